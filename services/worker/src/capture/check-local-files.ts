import path from 'node:path';
import { TimeSlice } from '@fleet-backup/capture';
import { forEachLimited, PermanentFailure } from '@fleet-backup/core';
import { type BackupRow, type StoredFile, storedBlob } from '@fleet-backup/db';
import { SMALL_READ } from '../fs/buffer-pool.ts';
import { hashFile, hashSmallFileSync } from '../fs/hash-file.ts';
import { readSourceIndex } from './source-index.ts';

/** Files read at once: small files are dominated by open and close, which the thread pool overlaps. */
const FILES_IN_FLIGHT = 16;

/**
 * The hash stage's check: re-reads each file the snapshot wrote into the backup's local copy and
 * compares its size and sha256 with what it recorded (for an encrypted file, those of the stored
 * ciphertext). A mismatch means the disk did not keep what was written: it fails for good, naming
 * the file. Files hardlinked from the previous backup (its source index says which) were checked
 * when first written and are left to the rolling re-read, unless the request asked `--full-check`.
 * Returns how many files it read.
 */
export async function checkLocalFiles(
  backupRoot: string,
  backup: Pick<BackupRow, 'key' | 'request'>,
  files: StoredFile[],
  signal: AbortSignal,
): Promise<number> {
  const dir = path.join(backupRoot, backup.key);
  const index = backup.request.fullCheck ? null : await readSourceIndex(backupRoot, backup.key);
  const toRead = index ? files.filter((f) => !index.get(f.path)?.linked) : files;
  const slice = new TimeSlice();
  await forEachLimited(toRead, FILES_IN_FLIGHT, async (file) => {
    signal.throwIfAborted();
    const local = path.join(dir, file.storedPath);
    const want = storedBlob(file);
    const read = async () => {
      if (want.size > SMALL_READ) return hashFile(local, signal);
      await slice.pass();
      return hashSmallFileSync(local) ?? hashFile(local, signal);
    };
    const actual = await read().catch((err) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new PermanentFailure(`${local} is missing from the local copy; re-run the backup`, {
          file: file.path,
        });
      }
      throw err;
    });
    if (actual.sha256 !== want.sha256 || actual.size !== want.size) {
      throw new PermanentFailure(
        `${local} does not match its snapshot (sha256 ${actual.sha256} size ${actual.size}, expected ${want.sha256} size ${want.size}); the backup disk may be failing — re-run the backup`,
        { file: file.path },
      );
    }
  });
  return toRead.length;
}
