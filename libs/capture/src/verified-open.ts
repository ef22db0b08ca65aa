import { type BigIntStats, closeSync, constants, fstatSync, openSync, readlinkSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { PermanentFailure } from '@fleet-backup/core';

/**
 * Opening what we read without ever being sent elsewhere by a symlink, on Linux, from Node.
 *
 * A path is resolved again at every use, so a directory checked a moment ago may be a symlink to
 * /etc by the time it is opened. Instead: a directory is opened with O_NOFOLLOW and kept as a
 * descriptor, its real path is confirmed through `/proc/self/fd/N` (which names the opened
 * directory, not whatever the path means now), and every entry beneath it is reached as
 * `/proc/self/fd/N/<name>`: the kernel starts from the opened directory, and O_NOFOLLOW refuses
 * a final symlink. Nothing is ever resolved through a path we did not just verify.
 */
export const PROC_FD = '/proc/self/fd';

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
// O_NONBLOCK: a FIFO swapped in for a file must not hang the agent in open(); O_NOCTTY: a
// terminal must never become ours. Neither changes how a regular file reads.
const O_FILE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** Something the walk saw changed before it could be read: skipped with this reason, never stored. */
export class EntryChanged extends Error {
  readonly path: string;
  readonly detail: string;
  constructor(path: string, detail: string) {
    super(`changed during the backup: ${detail}`);
    this.name = 'EntryChanged';
    this.path = path;
    this.detail = detail;
  }
}

/** The entry is gone from the very directory we hold open (the only case that says "vanished"). */
export class EntryVanished extends Error {
  readonly path: string;
  constructor(path: string) {
    super('vanished during the backup');
    this.name = 'EntryVanished';
    this.path = path;
  }
}

/** Device and inode: which file a name meant when we looked. */
export interface Identity {
  dev: bigint;
  ino: bigint;
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** An open directory whose real path has been confirmed; entries are reached through it. */
export interface VerifiedDir {
  handle: FileHandle;
  /** Its real path, as bytes. */
  real: Buffer;
  stat: BigIntStats;
  /** `/proc/self/fd/N`: lists and reaches this directory, whatever its path means now. */
  at: string;
}

/** `/proc/self/fd/N/<name>`: the entry `name` of the opened directory, never a path resolved afresh. */
export function entryIn(dir: VerifiedDir, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${dir.at}/`), name]);
}

/** True while the opened directory still has its verified real path (it was not moved away). */
export function stillAt(dir: VerifiedDir): boolean {
  return linkIs(dir.at, dir.real);
}

/** Whether `/proc/self/fd/N` names this real path now (sync: one cheap syscall, no thread-pool hop). */
function linkIs(at: string, real: Buffer): boolean {
  try {
    return readlinkSync(at, { encoding: 'buffer' }).equals(real);
  } catch {
    return false;
  }
}

/**
 * Opens a directory without following a final symlink and confirms it is `expectReal`. `where` is
 * either a verified parent's `/proc/self/fd/N/<name>` or an absolute path (whose earlier components
 * the kernel may resolve through a symlink: the real-path check then refuses it, having read
 * nothing). Throws EntryVanished, EntryChanged, or PermanentFailure when it may not be listed.
 */
export async function openDir(where: Buffer, expectReal: Buffer, logical: string): Promise<VerifiedDir> {
  let handle: FileHandle;
  try {
    handle = await open(where, O_DIR);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EntryVanished(logical);
    if (code === 'ELOOP' || code === 'ENOTDIR')
      throw new EntryChanged(logical, 'no longer a directory (replaced by a symlink or a file)');
    if (code === 'EACCES' || code === 'EPERM')
      throw new PermanentFailure(
        `cannot list ${logical}: permission denied; grant the agent read access or exclude it`,
        { path: logical, code },
      );
    throw err;
  }
  const at = `${PROC_FD}/${handle.fd}`;
  if (!linkIs(at, expectReal)) {
    await handle.close();
    // The path it resolved to is not named: it may lie outside the roots.
    throw new EntryChanged(
      logical,
      'no longer reached at this path (a directory above it was moved or replaced)',
    );
  }
  try {
    return { handle, real: expectReal, stat: await handle.stat({ bigint: true }), at };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * Opens the regular file `name` in a verified directory: never through a symlink, never blocking
 * on a FIFO or device, and only while the directory is still where it was verified. Returns the
 * handle and its fstat, the one source of the file's size and attributes.
 */
export async function openFileIn(
  dir: VerifiedDir,
  name: Buffer,
  logical: string,
): Promise<{ handle: FileHandle; stat: BigIntStats }> {
  let handle: FileHandle;
  try {
    handle = await open(entryIn(dir, name), O_FILE);
  } catch (err) {
    throw explainFileOpenError(err, logical);
  }
  try {
    return { handle, stat: checkOpenedFile(await handle.stat({ bigint: true }), dir, logical) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * openFileIn with synchronous calls, returning a descriptor: for a small file, an open and an
 * fstat in the page cache take microseconds, and two hops to the thread pool cost more. The
 * caller gives the event loop its turns (TimeSlice) and closes the descriptor.
 */
export function openFileInSync(
  dir: VerifiedDir,
  name: Buffer,
  logical: string,
): { fd: number; stat: BigIntStats } {
  let fd: number;
  try {
    fd = openSync(entryIn(dir, name), O_FILE);
  } catch (err) {
    throw explainFileOpenError(err, logical);
  }
  try {
    return { fd, stat: checkOpenedFile(fstatSync(fd, { bigint: true }), dir, logical) };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function explainFileOpenError(err: unknown, logical: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new EntryVanished(logical);
  if (code === 'ELOOP') return new EntryChanged(logical, 'replaced by a symlink');
  if (code === 'ENXIO' || code === 'EISDIR') return new EntryChanged(logical, 'no longer a regular file');
  if (code === 'EACCES' || code === 'EPERM')
    return new PermanentFailure(
      `cannot read ${logical}: permission denied; grant the agent read access or exclude it`,
      { path: logical, code },
    );
  return err;
}

/** The opened file's fstat, once it is known to be a regular file reached through the verified directory. */
function checkOpenedFile(stat: BigIntStats, dir: VerifiedDir, logical: string): BigIntStats {
  if (!stat.isFile()) throw new EntryChanged(logical, 'no longer a regular file');
  if (!stillAt(dir))
    throw new EntryChanged(logical, 'its directory was moved or replaced while it was opened');
  return stat;
}

/**
 * Opens a regular file by its absolute real path and confirms, through `/proc/self/fd/N`, that the
 * kernel reached it at exactly that path: for files found by path rather than by a walk (dependency
 * manifests, our own staged items). Same errors as openFileIn.
 */
export async function openRealFile(
  real: string,
  logical: string,
): Promise<{ handle: FileHandle; stat: BigIntStats }> {
  const slash = real.lastIndexOf('/');
  const parent = real.slice(0, slash) || '/';
  const dir = await openDir(Buffer.from(parent), Buffer.from(parent), logical);
  try {
    return await openFileIn(dir, Buffer.from(real.slice(slash + 1)), logical);
  } finally {
    await dir.handle.close();
  }
}
