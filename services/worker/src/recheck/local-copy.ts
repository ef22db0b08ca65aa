import { mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LOCAL_COPY } from '@fleet-backup/core';
import { type BackupDetail, type LocalFile, storedBlob } from '@fleet-backup/db';
import {
  type BlobPlace,
  blobObject,
  IntegrityError,
  openBlob,
  Sha256Verifier,
  type StorageTarget,
} from '@fleet-backup/storage';
import { tempPathIn } from '../fs/atomic-copy.ts';
import { hashFile } from '../fs/hash-file.ts';

/** The files of a backup's local copy, as stored (an encrypted file is its ciphertext). */
export function localFilesOf({ backup, files }: BackupDetail): LocalFile[] {
  return files.map((f) => ({
    backupId: backup.id,
    key: backup.key,
    path: f.path,
    storedPath: f.storedPath,
    ...storedBlob(f),
  }));
}

/** BACKUP_ROOT/<key>/<stored path>. */
export function localPath(backupRoot: string, file: LocalFile): string {
  return path.join(backupRoot, file.key, file.storedPath);
}

export interface LocalRead {
  good: LocalFile[];
  bad: { file: LocalFile; problem: string }[];
}

/**
 * Reads files of the local copy back and compares each with its recorded sha256 and size. A
 * file that is gone or cannot be read (EIO is what a failing disk answers) is bad too.
 */
export async function readLocalFiles(
  backupRoot: string,
  files: LocalFile[],
  signal?: AbortSignal,
): Promise<LocalRead> {
  const read: LocalRead = { good: [], bad: [] };
  for (const file of files) {
    signal?.throwIfAborted();
    const problem = await localProblem(localPath(backupRoot, file), file, signal);
    if (problem) read.bad.push({ file, problem });
    else read.good.push(file);
  }
  return read;
}

async function localProblem(at: string, file: LocalFile, signal?: AbortSignal): Promise<string | null> {
  try {
    // Pooled buffers, not a read stream: a stream allocates its whole 1 MiB highWaterMark per file.
    const actual = await hashFile(at, signal);
    if (actual.sha256 !== file.sha256)
      return `content differs (sha256 ${actual.sha256}, expected ${file.sha256})`;
    if (actual.size !== file.size) return `size ${actual.size}, expected ${file.size}`;
    return null;
  } catch (err) {
    if (signal?.aborted) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `missing from the local copy (${at})`;
    return `unreadable: ${code ?? (err as Error).message}`;
  }
}

const SOURCE_RANK: Record<string, number> = { verified: 0, replicated: 2, corrupt: 4 };

/**
 * The backup's copies on targets a bad local file can be fetched again from: verified copies
 * first, then ones written but not verified yet, then corrupt ones whose blob for this file is
 * not the bad part (a copy is corrupt as a whole when any of its files is); within each, other
 * disks first (cheapest to read), then offsite. Every byte fetched is checked against the
 * recorded sha256, so trying any of them is safe.
 */
export function healSources(detail: BackupDetail, badHere: (target: string) => boolean): string[] {
  const rank = (status: string, offsite: boolean) => (SOURCE_RANK[status] ?? 9) + Number(offsite);
  return detail.copies
    .filter((c) => c.target !== LOCAL_COPY && c.status in SOURCE_RANK)
    .filter((c) => !badHere(c.target))
    .sort((a, b) => rank(a.status, a.offsite) - rank(b.status, b.offsite) || a.target.localeCompare(b.target))
    .map((c) => c.target);
}

/**
 * Writes a file of the local copy again from a target's blob: to a temporary name beside it,
 * every byte checked against the recorded sha256 and size, fsynced, then renamed over the bad
 * file. Bad bytes from the target fail it (IntegrityError) and leave the file as it was.
 */
export async function fetchLocalFile(
  backupRoot: string,
  file: LocalFile,
  target: StorageTarget,
  place: BlobPlace | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const dest = localPath(backupRoot, file);
  await mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
  const temp = tempPathIn(path.dirname(dest));
  const key = blobObject(file.sha256, place);
  const out = await open(temp, 'wx', 0o600);
  try {
    const verifier = new Sha256Verifier(
      file.sha256,
      (actual) => new IntegrityError(target.name, key, file.sha256, actual),
      file.size,
    );
    await pipeline(
      await openBlob(target, file.sha256, place, signal),
      verifier,
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) await out.write(chunk);
      },
    );
    await out.sync();
    await out.close();
    await rename(temp, dest);
  } catch (err) {
    await out.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
}
