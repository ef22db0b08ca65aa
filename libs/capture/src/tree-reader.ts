import { isUtf8 } from 'node:buffer';
import { type BigIntStats, closeSync, constants, lstatSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { readXattrs } from './attributes.ts';
import type { FoundFile, StagedSource, TreeSource } from './found.ts';
import {
  EntryChanged,
  entryIn,
  openDir,
  openFileIn,
  openFileInSync,
  sameIdentity,
  stillAt,
  type VerifiedDir,
} from './verified-open.ts';

/** A found file, open for reading: the handle and its fstat (size, mode, owner, mtime). */
export interface OpenedFile {
  handle: FileHandle;
  stat: BigIntStats;
  /** For a file of a tree: its verified directory and name, to read its xattrs through. */
  at: { dir: VerifiedDir; name: Buffer } | null;
  /** Closes the file and lets the reader close its directory once no other file reads through it. */
  close(): Promise<void>;
}

/** A found file of a tree, open for reading through a descriptor (TreeReader.openFd). */
export type OpenedFd = Omit<OpenedFile, 'handle'> & { fd: number };

/** A generated item vanished from our own staging directory: this attempt fails, and a retry regenerates it. */
export class GeneratedItemMissing extends Error {
  readonly item: string;
  readonly stagedAt: string;
  constructor(item: string, stagedAt: string) {
    super(
      `generated item ${item} vanished from its staging file ${stagedAt} before it was copied ` +
        '(another process removed it); this attempt fails and the retry regenerates it',
    );
    this.name = 'GeneratedItemMissing';
    this.item = item;
    this.stagedAt = stagedAt;
  }
}

const O_STAGED = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A verified directory the reader holds, and how many opened files still read through it. */
interface HeldDir {
  dir: VerifiedDir;
  users: number;
  /** Dropped from the cache while in use: closed when its last user is done. */
  dropped: boolean;
}

/**
 * Opens the files a walk found, each exactly as found: through its directory opened again by
 * real path and verified (verified-open.ts), then by name with O_NOFOLLOW, and only if it is
 * still the file the walk listed (same device and inode). Files come sorted by path, so their
 * directories come in runs: a few verified directories stay open to serve each run. Many files
 * may be open at once: a directory is closed only when no opened file still reads through it
 * (its `/proc/self/fd/N` must not come to name another directory while a file uses it).
 */
export class TreeReader {
  private readonly dirs = new Map<string, Promise<HeldDir>>();
  private readonly keep: number;

  constructor(keep = 8) {
    this.keep = keep;
  }

  /**
   * Throws EntryChanged, EntryVanished (gone from the directory, or the directory gone from its
   * real path), GeneratedItemMissing, or PermanentFailure (permission denied). The caller closes
   * what it gets with `close()`.
   */
  async open(file: FoundFile): Promise<OpenedFile> {
    if (file.from.kind === 'staged') return openStaged(file.path, file.from);
    const from = file.from;
    return this.through(file.path, from, async (dir) => {
      const opened = await openFileIn(dir, from.name, file.path);
      return { opened, release: () => opened.handle.close() };
    });
  }

  /**
   * open() for a file of a tree, with synchronous calls once its directory is open (see
   * openFileInSync): a descriptor rather than a handle. Same errors and the same checks.
   */
  openFd(logical: string, from: TreeSource): Promise<OpenedFd> {
    return this.through(logical, from, async (dir) => {
      const opened = openFileInSync(dir, from.name, logical);
      return { opened, release: async () => closeSync(opened.fd) };
    });
  }

  /**
   * Opens a file of a tree with `openIn` through its verified directory, and only if it is still
   * the file the walk listed (same device and inode). The directory is held until it is closed.
   */
  private async through<T extends { stat: BigIntStats }>(
    logical: string,
    from: TreeSource,
    openIn: (dir: VerifiedDir) => Promise<{ opened: T; release(): Promise<void> }>,
  ): Promise<T & Pick<OpenedFile, 'at' | 'close'>> {
    const held = await this.dir(from, path.posix.dirname(logical));
    const done = () => this.release(held);
    try {
      const { opened, release } = await openIn(held.dir);
      if (!sameIdentity(opened.stat, from.id)) {
        await release();
        throw new EntryChanged(logical, 'replaced by another file between listing and copying');
      }
      const close = async () => {
        try {
          await release();
        } finally {
          await done();
        }
      };
      return { ...opened, at: { dir: held.dir, name: from.name }, close };
    } catch (err) {
      await done();
      throw err;
    }
  }

  /** The file's extended attributes, or EntryChanged when the name no longer holds it. */
  xattrsOf(opened: Pick<OpenedFile, 'at' | 'stat'>, logical: string): Record<string, string> | undefined {
    // The reader takes a string path: a name that is not valid UTF-8 cannot be addressed (README).
    if (!opened.at || !isUtf8(opened.at.name)) return undefined;
    const at = entryIn(opened.at.dir, opened.at.name).toString();
    const xattrs = readXattrs(at);
    if (xattrs) {
      // They were read by name: make sure the name still meant the file we hold.
      const now = (() => {
        try {
          return lstatSync(at, { bigint: true });
        } catch {
          return null;
        }
      })();
      if (!now || !sameIdentity(now, opened.stat))
        throw new EntryChanged(logical, 'replaced by another file while it was read');
    }
    return xattrs;
  }

  async close(): Promise<void> {
    const held = await Promise.allSettled([...this.dirs.values()]);
    this.dirs.clear();
    await Promise.all(
      held.map((h) => (h.status === 'fulfilled' ? h.value.dir.handle.close().catch(() => {}) : null)),
    );
  }

  private async release(held: HeldDir): Promise<void> {
    held.users--;
    if (held.dropped && held.users === 0) await held.dir.handle.close().catch(() => {});
  }

  /** Drops a directory from the cache, closing it now or when its last opened file is done. */
  private async drop(key: string, held: HeldDir): Promise<void> {
    this.dirs.delete(key);
    held.dropped = true;
    if (held.users === 0) await held.dir.handle.close().catch(() => {});
  }

  /** The file's verified directory, from the cache or opened now, already counting the caller as a user. */
  private async dir(from: TreeSource, logicalDir: string): Promise<HeldDir> {
    const key = from.dir.toString('latin1');
    for (let pending = this.dirs.get(key); pending; pending = this.dirs.get(key)) {
      const cached = await pending.catch(() => null);
      // Replaced or dropped while we waited: look again.
      if (this.dirs.get(key) !== pending) continue;
      if (cached && stillAt(cached.dir)) {
        cached.users++;
        return cached;
      }
      if (cached) await this.drop(key, cached);
      else this.dirs.delete(key);
    }
    const opening = openVerified(from, logicalDir).then((dir) => ({ dir, users: 1, dropped: false }));
    this.dirs.set(key, opening);
    let held: HeldDir;
    try {
      held = await opening;
    } catch (err) {
      if (this.dirs.get(key) === opening) this.dirs.delete(key);
      throw err;
    }
    await this.evict();
    return held;
  }

  /** Keeps at most `keep` directories cached, dropping the oldest that have finished opening. */
  private async evict(): Promise<void> {
    for (const [key, pending] of this.dirs) {
      if (this.dirs.size <= this.keep) return;
      const held = await pending.catch(() => null);
      if (this.dirs.get(key) !== pending) continue;
      if (held) await this.drop(key, held);
      else this.dirs.delete(key);
    }
  }
}

async function openVerified(from: TreeSource, logicalDir: string): Promise<VerifiedDir> {
  let dir: VerifiedDir;
  try {
    dir = await openDir(from.dir, from.dir, logicalDir);
  } catch (err) {
    // Said of the file being copied, so name the directory the change happened to.
    if (err instanceof EntryChanged)
      throw new EntryChanged(logicalDir, `directory ${logicalDir}: ${err.detail}`);
    throw err;
  }
  if (!sameIdentity(dir.stat, from.dirId)) {
    await dir.handle.close();
    throw new EntryChanged(logicalDir, `directory ${logicalDir} was replaced between listing and copying`);
  }
  return dir;
}

async function openStaged(item: string, from: StagedSource): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await open(from.path, O_STAGED);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GeneratedItemMissing(item, from.path);
    throw err;
  }
  try {
    return { handle, stat: await handle.stat({ bigint: true }), at: null, close: () => handle.close() };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
