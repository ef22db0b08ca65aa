import { createHash } from 'node:crypto';
import { closeSync, constants, fsyncSync, openSync, unlinkSync, writevSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decryptStream, type Keyring, PermanentFailure } from '@fleet-backup/core';
import { Sha256Verifier } from '@fleet-backup/storage';
import { type AttributeContext, applyFileAttributes, applyFileAttributesSync } from './attributes.ts';
import { destinationError } from './destination-error.ts';
import { inDir } from './dir-tree.ts';
import type { RestoreFile } from './model.ts';
import { placeEntry, tempName } from './place.ts';

/** A copy served bytes whose sha256 or size is not the recorded one: the copy itself is bad. */
export class RestoreMismatch extends PermanentFailure {}

/** Bytes gathered before a write: one syscall per MiB, not per piece served. */
const WRITE_BYTES = 1 << 20;
/**
 * Files up to this size are gathered whole and checked, then written with plain syscalls: a
 * restore of 20,000 small files spent most of its main thread on the eight or nine thread-pool
 * hops each file took (open, write, chown, chmod, utimes, close…), far more than the syscalls
 * themselves (as the snapshot's small-file copy found).
 */
const SMALL_FILE = 256 * 1024;

/** Never follows a symlink, never reuses an existing file: a new inode, or an error. */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface FileWrite {
  file: RestoreFile;
  /** The directory the file lands in, opened without following symlinks. */
  dir: FileHandle;
  name: Buffer;
  display: string;
  force: boolean;
  keyring: Keyring;
  /** Null: no attributes to apply (a backup taken before they were recorded, or a drill). */
  attrs: AttributeContext | null;
  onWritten?: (bytes: number) => void;
  /**
   * The caller moves the file to its final name once the bytes are durable (BatchedLanding): no
   * fsync and no rename here, and the temporary name is returned.
   */
  landLater?: boolean;
}

/**
 * Writes one file to a short temporary name in its final directory, and renames it into place
 * only once every check passed: the GCM tag of an encrypted file (checked at its end, after its
 * plaintext has streamed out), the plaintext's sha256 and size, then its attributes.
 */
export async function writeRestoredFile(
  w: FileWrite,
  openInput: () => Promise<Readable>,
): Promise<string | null> {
  if (w.file.size <= SMALL_FILE) return writeSmallFile(w, openInput);
  const { out, temp } = await createTemp(w.dir.fd).catch((err: unknown) => {
    throw destinationError(err, 'create a file beside', w.display);
  });
  try {
    let written = 0;
    // Pieces (a chunked file's are about 128 KiB) are gathered into writes of about 1 MiB.
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const flush = async () => {
      const { bytesWritten } = await out.writev(batch).catch((err: unknown) => {
        throw destinationError(err, 'write', w.display);
      });
      // A regular file is written short only when the space ran out mid-write.
      if (bytesWritten !== batchBytes)
        throw destinationError(
          Object.assign(new Error('short write'), { code: 'ENOSPC' }),
          'write',
          w.display,
        );
      written += batchBytes;
      batch = [];
      batchBytes = 0;
      w.onWritten?.(written);
    };
    await verifiedBytes(w.file, openInput, w.keyring, async (source) => {
      for await (const chunk of source) {
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BYTES) await flush();
      }
      if (batchBytes > 0) await flush();
    });
    if (!w.landLater)
      await out.sync().catch((err: unknown) => {
        throw destinationError(err, 'write', w.display);
      });
    if (w.attrs && w.file.attrs)
      await applyFileAttributes(out, `/proc/self/fd/${w.dir.fd}/${temp}`, w.display, w.file.attrs, w.attrs);
    await out.close();
    if (w.landLater) return temp;
    await placeEntry(w.dir.fd, temp, w.name, { force: w.force, display: w.display });
    return null;
  } catch (err) {
    await out.close().catch(() => {});
    await unlink(inDir(w.dir.fd, temp)).catch(() => {});
    throw err;
  }
}

/**
 * A small file: its temporary file created, then its bytes read whole and checked before any is
 * written (so a temporary name never holds unchecked bytes), then written, given its attributes
 * and closed in one synchronous run, and renamed into place as any other.
 */
async function writeSmallFile(w: FileWrite, openInput: () => Promise<Readable>): Promise<string | null> {
  const attrs = w.attrs && w.file.attrs ? { ctx: w.attrs, of: w.file.attrs } : null;
  const ids = attrs?.ctx.owner ? await attrs.ctx.owners.ids(attrs.of) : null;
  // Created first: a destination that refuses it fails the restore before any copy is read.
  let created: { fd: number; temp: string };
  try {
    created = createTempSync(w.dir.fd);
  } catch (err) {
    throw destinationError(err, 'create a file beside', w.display);
  }
  const { fd, temp } = created;
  try {
    const chunks: Buffer[] = [];
    await verifiedBytes(w.file, openInput, w.keyring, async (source) => {
      for await (const chunk of source) chunks.push(chunk);
    });
    try {
      // A regular file is written short only when the space ran out mid-write.
      if (writevSync(fd, chunks) !== w.file.size)
        throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
      if (!w.landLater) fsyncSync(fd);
    } catch (err) {
      throw destinationError(err, 'write', w.display);
    }
    if (attrs)
      applyFileAttributesSync(fd, `/proc/self/fd/${w.dir.fd}/${temp}`, w.display, attrs.of, attrs.ctx, ids);
  } catch (err) {
    closeSync(fd);
    unlinkQuietly(inDir(w.dir.fd, temp));
    throw err;
  }
  closeSync(fd);
  w.onWritten?.(w.file.size);
  if (w.landLater) return temp;
  try {
    await placeEntry(w.dir.fd, temp, w.name, { force: w.force, display: w.display });
  } catch (err) {
    unlinkQuietly(inDir(w.dir.fd, temp));
    throw err;
  }
  return null;
}

function unlinkQuietly(file: Buffer): void {
  try {
    unlinkSync(file);
  } catch {
    // Already gone, or the directory is: nothing left to clean.
  }
}

/** Reads, decrypts and checks a file as a restore would, writing nothing (a drill's generated items). */
export async function checkRestoredFile(
  file: RestoreFile,
  openInput: () => Promise<Readable>,
  keyring: Keyring,
): Promise<void> {
  await verifiedBytes(file, openInput, keyring, async (source) => {
    for await (const _ of source);
  });
}

async function verifiedBytes(
  file: RestoreFile,
  openInput: () => Promise<Readable>,
  keyring: Keyring,
  sink: (source: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const input = await openInput();
  if (!file.encrypted) return sink(checkedChunks(input, file));
  const verifier = new Sha256Verifier(file.sha256, (actual) => mismatch(file, actual), file.size);
  await pipeline(input, decryptStream(keyring, file.path), verifier, sink);
}

/**
 * The input's chunks, the last held back until the whole file's sha256 and size are known good
 * (as Sha256Verifier does): a plain loop, not a stream pipeline, which costs more than the bytes
 * of a small file. Ending the loop early destroys the input.
 */
async function* checkedChunks(input: Readable, file: RestoreFile): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  let pending: Buffer | undefined;
  for await (const chunk of input) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (pending) yield pending;
    pending = chunk as Buffer;
  }
  const actual = hash.digest('hex');
  if (actual !== file.sha256 || size !== file.size) throw mismatch(file, actual);
  if (pending) yield pending;
}

function mismatch(file: RestoreFile, actual: string): RestoreMismatch {
  return new RestoreMismatch(`${file.path}: bytes hash to ${actual}, expected ${file.sha256}`);
}

function createTempSync(dirFd: number): { fd: number; temp: string } {
  for (let attempt = 0; ; attempt++) {
    const temp = tempName();
    try {
      return { fd: openSync(inDir(dirFd, temp), CREATE, 0o600), temp };
    } catch (err) {
      // A leftover of an earlier run under the same random name: draw another.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
  }
}

async function createTemp(dirFd: number): Promise<{ out: FileHandle; temp: string }> {
  for (let attempt = 0; ; attempt++) {
    const temp = tempName();
    try {
      return { out: await open(inDir(dirFd, temp), CREATE, 0o600), temp };
    } catch (err) {
      // A leftover of an earlier run under the same random name: draw another.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
    }
  }
}
