import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readlink } from 'node:fs/promises';
import path from 'node:path';
import { BadInputError, PermanentFailure } from '@fleet-backup/core';
import { destinationError } from './destination-error.ts';

/** Directories open at once; a deep or wide tree reopens evicted ones through their parents. */
const MAX_OPEN = 128;
const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Something other than a directory stands where the restore needs one: it is never followed or removed. */
export class PathInTheWay extends BadInputError {}

/**
 * A path naming `name` inside the directory that `fd` holds, resolved from that directory and not
 * from its path: the kernel's /proc/self/fd link is the directory itself, so a directory swapped
 * for a symlink after it was opened cannot redirect what is written (openat() by another route;
 * Node's fs has no *at() calls). A Buffer, so names that are not valid UTF-8 pass byte for byte.
 */
export function inDir(fd: number, name: Buffer | string): Buffer {
  return Buffer.concat([
    Buffer.from(`/proc/self/fd/${fd}/`),
    Buffer.isBuffer(name) ? name : Buffer.from(name),
  ]);
}

/**
 * The directories of a restore, opened one level at a time from the restore directory down,
 * never following a symlink: each component is created (mkdir does not follow) or opened with
 * O_NOFOLLOW|O_DIRECTORY from its parent's descriptor, and a symlink or a file in the way is
 * refused, naming it. Only the top (`--to` itself) may be a symlink: it is the user's choice.
 */
interface DirOptions {
  create: boolean;
  modeFor?: (key: string) => number;
}

/** An open (or opening) directory, and how many callers are using it now. */
interface OpenDir {
  handle: Promise<FileHandle | null>;
  users: number;
}

export class DirTree {
  readonly top: string;
  private readonly root: FileHandle;
  /** Least recently used first; a directory in use is never closed. */
  private readonly open = new Map<string, OpenDir>();
  /** Directories this restore created (latin1 keys of their relative paths). */
  readonly created = new Set<string>();
  /** Closes of evicted directories not yet done. */
  private readonly closing = new Set<Promise<void>>();

  private constructor(top: string, root: FileHandle) {
    this.top = top;
    this.root = root;
  }

  /** Opens (creating it and its parents when missing) the restore directory. */
  static async open(to: string): Promise<DirTree> {
    const top = path.resolve(to);
    try {
      await access('/proc/self/fd');
      await mkdir(top, { recursive: true });
      return new DirTree(top, await openDirectory(top, constants.O_RDONLY | constants.O_DIRECTORY));
    } catch (err) {
      throw new PermanentFailure(`cannot open the restore directory ${top}: ${(err as Error).message}`, {
        to: top,
      });
    }
  }

  /**
   * Runs `fn` with the directory at `components` below the top, opened from its parent and kept
   * open until `fn` settles, however many other calls run at once. `create`: missing ones are
   * made with `modeFor(key)` (umask applies); otherwise a missing one gives null. Calls for one
   * directory share a single open (and mkdir).
   */
  async use<T>(
    components: Buffer[],
    opts: DirOptions,
    fn: (dir: FileHandle | null) => Promise<T>,
  ): Promise<T> {
    if (!components.length) return fn(this.root);
    const key = Buffer.concat(components.flatMap((c, i) => (i ? [SLASH, c] : [c]))).toString('latin1');
    let entry = this.open.get(key);
    if (entry) this.open.delete(key);
    else entry = { handle: this.openChild(components, key, opts), users: 0 };
    this.open.set(key, entry);
    entry.users++;
    try {
      return await fn(await entry.handle);
    } finally {
      entry.users--;
      // A missing directory (or a failed open) is not remembered: a later call may create it.
      if (!entry.users && !(await entry.handle.catch(() => null)) && this.open.get(key) === entry)
        this.open.delete(key);
      this.closeIdle();
    }
  }

  /** The directory's handle, for callers that use one directory at a time (not concurrently). */
  dir(components: Buffer[], opts: DirOptions): Promise<FileHandle | null> {
    return this.use(components, opts, async (dir) => dir);
  }

  /** A path for messages: the top plus the components (bytes that are not UTF-8 shown as U+FFFD). */
  display(components: Buffer[]): string {
    return path.join(this.top, ...components.map((c) => c.toString('utf8')));
  }

  async close(): Promise<void> {
    // Evicted directories may still be closing: the caller may count descriptors next.
    await Promise.all(this.closing);
    for (const entry of this.open.values())
      await (await entry.handle.catch(() => null))?.close().catch(() => {});
    this.open.clear();
    await this.root.close().catch(() => {});
  }

  private openChild(components: Buffer[], key: string, opts: DirOptions): Promise<FileHandle | null> {
    const name = components[components.length - 1] as Buffer;
    return this.use(components.slice(0, -1), opts, (parent) =>
      parent ? this.openIn(parent, name, key, opts) : Promise.resolve(null),
    );
  }

  private async openIn(
    parent: FileHandle,
    name: Buffer,
    key: string,
    opts: DirOptions,
  ): Promise<FileHandle | null> {
    const at = inDir(parent.fd, name);
    try {
      return await openDirectory(at, DIRECTORY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !opts.create) return null;
      if (code !== 'ENOENT') throw await inTheWay(err, at, this.display(componentsOfKey(key)));
    }
    try {
      await mkdir(at, opts.modeFor?.(key) ?? 0o777);
      this.created.add(key);
    } catch (err) {
      // Someone made it meanwhile: open what is there now, with the same checks.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw destinationError(err, 'create directory', this.display(componentsOfKey(key)));
    }
    return openDirectory(at, DIRECTORY).catch(async (err: unknown) => {
      throw await inTheWay(err, at, this.display(componentsOfKey(key)));
    });
  }

  /** Past MAX_OPEN, the least recently used directories nobody is using are closed. */
  private closeIdle(): void {
    if (this.open.size <= MAX_OPEN) return;
    for (const [key, entry] of this.open) {
      if (this.open.size <= MAX_OPEN) return;
      if (entry.users) continue;
      // An open child stays usable after its parent is closed.
      this.open.delete(key);
      const closed = entry.handle.then((h) => h?.close()).catch(() => {});
      this.closing.add(closed);
      void closed.finally(() => this.closing.delete(closed));
    }
  }
}

const SLASH = Buffer.from('/');

function componentsOfKey(key: string): Buffer[] {
  return key.split('/').map((c) => Buffer.from(c, 'latin1'));
}

async function access(p: string): Promise<void> {
  await lstat(p).catch(() => {
    throw new Error(
      '/proc is not mounted: a restore needs it to open directories without following symlinks',
    );
  });
}

function openDirectory(p: string | Buffer, flags: number): Promise<FileHandle> {
  return open(p, flags);
}

/** ENOTDIR / ELOOP on a component: say what is there, and what to do. */
async function inTheWay(err: unknown, at: Buffer, display: string): Promise<unknown> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOTDIR' && code !== 'ELOOP') return destinationError(err, 'open directory', display);
  const stat = await lstat(at).catch(() => null);
  if (stat?.isSymbolicLink()) {
    const target = await readlink(at).catch(() => '?');
    return new PathInTheWay(
      `${display} is a symlink (to ${target}) where the backup has a directory: a restore never writes through a symlink it did not create; remove or rename it, or restore into another --to`,
      { path: display, target },
    );
  }
  return new PathInTheWay(
    `${display} is not a directory, but the backup has a directory there: move it away, or restore into another --to`,
    { path: display },
  );
}
