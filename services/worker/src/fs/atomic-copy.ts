import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { PermanentFailure, type Sealer } from '@fleet-backup/core';

export const TEMP_MARK = '.fbtmp-';

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
}

/**
 * Copies an open file into a temporary file in destDir, hashing the bytes in the same pass, and
 * fsyncs it. Memory stays bounded by one read buffer whatever the file size. At most `size` bytes
 * are taken (fewer if the file shrank), so a file growing while it is copied cannot make the copy
 * run on and on; the caller compares the file's stat before and after. The caller renames the
 * temporary file into place once it knows the final name, so no final name ever holds a half file.
 * With a `seal`, what is written is the file encrypted, from the same single read that hashes the
 * plaintext: a sensitive file's bytes never touch the backup disk in the clear.
 */
export async function copyToTemp(
  src: CopySource,
  destDir: string,
  signal: AbortSignal,
  seal?: Sealer,
): Promise<CopyResult> {
  const tempPath = path.join(destDir, `${TEMP_MARK}${randomBytes(6).toString('hex')}`);
  const out = await mkdir(destDir, { recursive: true })
    .then(() => open(tempPath, 'wx', 0o600))
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
    await out.write(bytes);
  };
  let size = 0;
  try {
    for await (const chunk of readAll(src, signal)) {
      hash.update(chunk);
      size += chunk.length;
      await write(seal ? seal.update(chunk) : chunk);
    }
    if (seal) await write(seal.final());
    await out.sync();
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

/** The first `size` bytes of an open file, 1 MiB at a time; the handle stays open (the caller owns it). */
function readAll(src: CopySource, signal: AbortSignal): AsyncIterable<Buffer> {
  if (src.size === 0) return (async function* () {})();
  return src.handle.createReadStream({
    start: 0,
    end: src.size - 1,
    highWaterMark: 1 << 20,
    autoClose: false,
    signal,
  }) as AsyncIterable<Buffer>;
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

/** Renames a finished temporary file onto its final name (atomic on one filesystem). */
export async function commitTemp(tempPath: string, finalPath: string): Promise<void> {
  await mkdir(path.dirname(finalPath), { recursive: true });
  await rename(tempPath, finalPath);
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
