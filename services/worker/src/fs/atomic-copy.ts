import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { chmod, type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PermanentFailure, type Sealer } from '@fleet-backup/core';
import {
  giveAheadBuffer,
  giveReadBuffer,
  SMALL_READ,
  takeAheadBuffer,
  takeReadBuffer,
} from './buffer-pool.ts';

export const TEMP_MARK = '.fbtmp-';

// Unique per process (pid and random bytes, drawn once) and per call (a counter): drawing random
// bytes for every one of 20,000 files cost more than writing most of them.
const TEMP_PREFIX = `${TEMP_MARK}${process.pid.toString(36)}${randomBytes(4).toString('hex')}-`;
let tempCount = 0;

/** A fresh temporary name in `dir`, which the next run's prune removes if it is left behind. */
export function tempPathIn(dir: string): string {
  return path.join(dir, `${TEMP_PREFIX}${(tempCount++).toString(36)}`);
}

/** Stored copies are read-only: editing one in place (it may be hardlinked into other backups) takes a chmod first. */
export const STORED_MODE = 0o444;

export interface CopyResult {
  /** Of the source's bytes (the plaintext, for an encrypted copy). */
  sha256: string;
  size: number;
  /** Of the bytes written, when they are the source encrypted. */
  encrypted?: { sha256: string; size: number; keyId: string };
  tempPath: string;
}

/** An open file to copy: how many bytes to take (its size when opened), and its name for messages. */
export interface CopySource {
  handle: FileHandle;
  size: number;
  label: string;
  /** All of its bytes, when the caller already read them (a small file, whose head it needed): not read again. */
  bytes?: Buffer;
}

/** A small file's bytes, read whole into a pooled buffer; `release` gives the buffer back. */
export interface SmallFile {
  bytes: Buffer;
  release(): void;
}

/**
 * Reads a file of at most SMALL_READ bytes whole in one pooled buffer, or returns null for a larger
 * one. A caller that needs the head (to recognise SQLite) and then the bytes reads once, not twice.
 */
export async function readSmallFile(handle: FileHandle, size: number): Promise<SmallFile | null> {
  if (size > SMALL_READ) return null;
  const buf = takeReadBuffer(size);
  let length = 0;
  try {
    while (length < size) {
      const { bytesRead } = await handle.read(buf, length, size - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
  } catch (err) {
    giveReadBuffer(buf);
    throw err;
  }
  return { bytes: buf.subarray(0, length), release: () => giveReadBuffer(buf) };
}

/**
 * Copies an open file into a temporary file in destDir, hashing the bytes in the same pass.
 * Memory stays bounded by one pooled read buffer whatever the file size. At most `size` bytes
 * are taken (fewer if the file shrank), so a file growing while it is copied cannot make the copy
 * run on and on; the caller compares the file's stat before and after. The caller renames the
 * temporary file into place once it knows the final name, so no final name ever holds a half file
 * (a killed process leaves only temporary names, which the next run prunes). It is not fsynced
 * here: the caller makes the whole backup durable at once (makeDurable) before recording it.
 * With a `seal`, what is written is the file encrypted, from the same single read that hashes the
 * plaintext: a sensitive file's bytes never touch the backup disk in the clear.
 */
export async function copyToTemp(
  src: CopySource,
  destDir: string,
  signal: AbortSignal,
  seal?: Sealer,
  dirs: DirMaker = new DirMaker(),
): Promise<CopyResult> {
  const tempPath = tempPathIn(destDir);
  const out = await dirs
    .make(destDir)
    // Created read-only: this descriptor may still write, later opens for writing are refused.
    .then(() => open(tempPath, 'wx', STORED_MODE))
    .catch((err: unknown) => {
      throw explainDestinationError(err, destDir);
    });
  const hash = createHash('sha256');
  const written = seal ? { hash: createHash('sha256'), size: 0 } : null;
  const write = async (bytes: Buffer) => {
    if (written) {
      written.hash.update(bytes);
      written.size += bytes.length;
    }
    await out.write(bytes, 0, bytes.length);
  };
  let size = 0;
  try {
    const take = async (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
      await write(seal ? seal.update(chunk) : chunk);
    };
    if (src.bytes) await take(src.bytes);
    else await readChunks(src.handle, src.size, signal, take);
    if (seal) await write(seal.final());
    await out.close();
  } catch (err) {
    await out.close().catch(() => {});
    await unlink(tempPath).catch(() => {});
    throw explainWriteError(err, src.label, destDir);
  }
  const result: CopyResult = { sha256: hash.digest('hex'), size, tempPath };
  if (seal && written)
    result.encrypted = { sha256: written.hash.digest('hex'), size: written.size, keyId: seal.keyId };
  return result;
}

/**
 * Hands the first `size` bytes of an open file (fewer if it shrank) to `each`, chunk by chunk,
 * through pooled buffers: a chunk is only valid until `each` resolves. A file of more than one
 * chunk is read one chunk ahead into a second buffer while `each` hashes and writes the current
 * one, so the disk and the hash overlap. The handle stays open (the caller owns it). No stream and
 * no listener on `signal`: it is checked between reads.
 */
export async function readChunks(
  handle: FileHandle,
  size: number,
  signal: AbortSignal | undefined,
  each: (chunk: Buffer) => Promise<void> | void,
): Promise<void> {
  if (size === 0) return;
  const first = takeReadBuffer(size);
  const second = size > first.length ? takeAheadBuffer() : null;
  const buffers = second ? [first, second] : [first];
  const readAt = async (buf: Buffer, pos: number): Promise<number> => {
    if (pos >= size) return 0;
    signal?.throwIfAborted();
    return (await handle.read(buf, 0, Math.min(buf.length, size - pos), pos)).bytesRead;
  };
  let pos = 0;
  let turn = 0;
  let ahead = readAt(buffers[0] as Buffer, 0);
  try {
    for (;;) {
      const bytesRead = await ahead;
      if (bytesRead === 0) break;
      // The chunk read ahead was asked for before an abort: it is not handed on after one.
      signal?.throwIfAborted();
      const chunk = (buffers[turn % buffers.length] as Buffer).subarray(0, bytesRead);
      pos += bytesRead;
      turn++;
      // With one buffer (a small file, or no second one free) the next read waits for `each`: it reuses that buffer.
      if (buffers.length > 1) ahead = readAt(buffers[turn % 2] as Buffer, pos);
      await each(chunk);
      if (buffers.length === 1) ahead = readAt(buffers[0] as Buffer, pos);
    }
  } finally {
    // A read still in flight must not land in a buffer someone else has taken.
    await ahead.catch(() => 0);
    giveReadBuffer(first);
    if (second) giveAheadBuffer(second);
  }
}

/** Makes each directory once per capture, however many files go into it at once. */
export class DirMaker {
  private readonly made = new Map<string, Promise<unknown>>();
  make(dir: string): Promise<unknown> {
    let made = this.made.get(dir);
    if (!made) {
      made = mkdir(dir, { recursive: true });
      // A failure is not remembered: the next file tries again and reports its own error.
      made.catch(() => this.made.delete(dir));
      this.made.set(dir, made);
    }
    return made;
  }
}

/** Copies a file of our own (a SQLite snapshot we wrote) the same way. */
export async function copyPathToTemp(
  file: string,
  destDir: string,
  signal: AbortSignal,
  seal?: Sealer,
): Promise<CopyResult> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    return await copyToTemp({ handle, size, label: file }, destDir, signal, seal);
  } finally {
    await handle.close();
  }
}

/**
 * Renames a finished temporary file onto its final name (atomic on one filesystem). `readOnly`:
 * make it STORED_MODE first, for a file not created so (copyToTemp creates its files read-only).
 */
export async function commitTemp(tempPath: string, finalPath: string, readOnly = false): Promise<void> {
  if (readOnly) await chmod(tempPath, STORED_MODE);
  try {
    await rename(tempPath, finalPath);
  } catch (err) {
    // Its directory is made only when the final name needs one the temporary file did not.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(path.dirname(finalPath), { recursive: true });
    await rename(tempPath, finalPath);
  }
}

/**
 * The small-file form of copyToTemp then commitTemp, with synchronous calls: the bytes are already
 * read (and hashed by the caller), and for a file of a few KiB an open, a write, a close and a
 * rename in the page cache take microseconds where four hops to the thread pool cost far more.
 * `destDir` must exist. The caller gives the event loop its turns (TimeSlice). Same guarantees: the
 * final name appears only once the bytes are all written, and durability comes later (makeDurable).
 */
export function writeSmallSync(bytes: Buffer, destDir: string, finalPath: string, label: string): void {
  const tempPath = tempPathIn(destDir);
  let fd: number | null;
  try {
    fd = openSync(tempPath, 'wx', STORED_MODE);
  } catch (err) {
    throw explainDestinationError(err, destDir);
  }
  try {
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    const closing = fd;
    fd = null;
    closeSync(closing);
    renameOrMakeDirSync(tempPath, finalPath);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tempPath, { force: true });
    throw explainWriteError(err, label, destDir);
  }
}

function renameOrMakeDirSync(tempPath: string, finalPath: string): void {
  try {
    renameSync(tempPath, finalPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(path.dirname(finalPath), { recursive: true });
    renameSync(tempPath, finalPath);
  }
}

/** fsyncs a directory so the renames in it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function explainDestinationError(err: unknown, destDir: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new PermanentFailure(
      `disk full: cannot create files in ${destDir}; free space on the backup disk, then retry the job`,
      {
        code,
      },
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new PermanentFailure(
      `cannot write to ${destDir} (${code}); check BACKUP_ROOT's permissions and mount`,
      { code },
    );
  }
  return err;
}

function explainWriteError(err: unknown, src: string, destDir: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new PermanentFailure(
      `disk full: no space left to copy ${src} into ${destDir}; free space on the backup disk, then retry the job`,
      { path: src, code },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PermanentFailure(
      `cannot read ${src}: permission denied; grant the agent read access or exclude it`,
      {
        path: src,
        code,
      },
    );
  }
  if (code === 'EROFS') return new PermanentFailure(`backup disk ${destDir} is read-only`, { code });
  return err;
}
