import { isUtf8 } from 'node:buffer';
import { type BigIntStats, constants, lstatSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import { readXattrs } from './attributes.ts';
import type { FoundFile, StagedSource, TreeSource } from './found.ts';
import {
  EntryChanged,
  entryIn,
  openDir,
  openFileIn,
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
}

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

/**
 * Opens the files a walk found, each exactly as found: through its directory opened again by
 * real path and verified (fs/verified-open.ts), then by name with O_NOFOLLOW, and only if it is
 * still the file the walk listed (same device and inode). Files come sorted by path, so their
 * directories come in runs: a few verified directories stay open to serve each run.
 */
export class TreeReader {
  private readonly dirs = new Map<string, VerifiedDir>();
  private readonly keep: number;

  constructor(keep = 8) {
    this.keep = keep;
  }

  /**
   * Throws EntryChanged, EntryVanished (gone from the directory, or the directory gone from its
   * real path), GeneratedItemMissing, or PermanentFailure (permission denied).
   */
  async open(file: FoundFile): Promise<OpenedFile> {
    if (file.from.kind === 'staged') return openStaged(file.path, file.from);
    const dir = await this.dir(file.from, path.posix.dirname(file.path));
    const opened = await openFileIn(dir, file.from.name, file.path);
    if (!sameIdentity(opened.stat, file.from.id)) {
      await opened.handle.close();
      throw new EntryChanged(file.path, 'replaced by another file between listing and copying');
    }
    return { ...opened, at: { dir, name: file.from.name } };
  }

  /** The file's extended attributes, or EntryChanged when the name no longer holds it. */
  xattrsOf(opened: OpenedFile, logical: string): Record<string, string> | undefined {
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
    const open = [...this.dirs.values()];
    this.dirs.clear();
    await Promise.all(open.map((d) => d.handle.close().catch(() => {})));
  }

  private async dir(from: TreeSource, logicalDir: string): Promise<VerifiedDir> {
    const key = from.dir.toString('latin1');
    const cached = this.dirs.get(key);
    if (cached && stillAt(cached)) return cached;
    if (cached) {
      this.dirs.delete(key);
      await cached.handle.close();
    }
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
    this.dirs.set(key, dir);
    if (this.dirs.size > this.keep) {
      const [oldest, evicted] = this.dirs.entries().next().value as [string, VerifiedDir];
      this.dirs.delete(oldest);
      await evicted.handle.close();
    }
    return dir;
  }
}

async function openStaged(item: string, from: StagedSource): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await open(from.path, O_STAGED);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GeneratedItemMissing(item, from.path);
    throw err;
  }
  return { handle, stat: await handle.stat({ bigint: true }), at: null };
}
