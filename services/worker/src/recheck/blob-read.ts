import { createHash } from 'node:crypto';
import type { StoredBlob } from '@fleet-backup/db';
import {
  type BlobPlace,
  blobKey,
  NotFoundError,
  type ObjectInfo,
  openBlob,
  type ReadOnlyTarget,
  StorageError,
} from '@fleet-backup/storage';

/** One thing found wrong with a copy: the file (or manifest key) and what. */
export interface CopyProblem {
  path: string;
  problem: string;
}

/** The problem of a blob whose pack is not on the target. */
export const PACK_GONE = 'blob missing (its pack is gone)';

/**
 * Reads one blob back in full and says what is wrong with it, or null when its bytes hash to
 * the sha256 in its key with the right size and agree with the checksums the server stored. A
 * blob in a pack is read as its range of the pack (the server's checksums are the whole pack's).
 * A target that cannot be reached throws (the job retries): that proves nothing about the copy.
 */
export async function checkBlob(
  target: ReadOnlyTarget,
  blob: StoredBlob,
  place: BlobPlace | undefined,
  signal?: AbortSignal,
): Promise<string | null> {
  try {
    if (place) return bytesProblem(blob, await digest(await openBlob(target, blob.sha256, place, signal)));
    const key = blobKey(blob.sha256);
    const info = await target.head(key);
    const actual = await digest(await target.get(key, undefined, signal));
    if (actual.sha256 !== blob.sha256) return `blob content differs (sha256 ${actual.sha256})`;
    if (actual.size !== blob.size || info.size !== blob.size)
      return `blob size ${actual.size}, expected ${blob.size}`;
    return storedChecksumProblem(target, info, actual);
  } catch (err) {
    if (err instanceof NotFoundError) return place && 'pack' in place ? PACK_GONE : 'blob missing';
    // The client's own download validation (GCS crc32c/md5, S3 checksums) failed: the stored bytes are bad.
    if (err instanceof StorageError && !err.transient) return `unreadable: ${err.message}`;
    throw err;
  }
}

/** What is wrong with bytes read for a blob, or null when they are its bytes. */
export function bytesProblem(blob: StoredBlob, read: { sha256: string | null; size: number }): string | null {
  if (read.sha256 === null) return `blob cut short after ${read.size} bytes`;
  if (read.sha256 !== blob.sha256) return `blob content differs (sha256 ${read.sha256})`;
  if (read.size !== blob.size) return `blob size ${read.size}, expected ${blob.size}`;
  return null;
}

/** sha256 and md5 of a stream, read once. */
async function digest(stream: NodeJS.ReadableStream): Promise<{ sha256: string; md5: Buffer; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of stream) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest(), size };
}

/**
 * Compares what the server says it stored with what was read: S3's ChecksumSHA256 and a
 * single-part ETag (the md5), GCS's md5Hash. A disagreement means the server's object and its
 * own record differ, which no later read should be trusted over.
 */
function storedChecksumProblem(
  target: ReadOnlyTarget,
  info: ObjectInfo,
  actual: { sha256: string; md5: Buffer },
): string | null {
  const c = info.checksums ?? {};
  if (c.sha256 && c.sha256 !== actual.sha256)
    return `stored sha256 checksum ${c.sha256} differs from the bytes`;
  if (c.md5 && c.md5 !== actual.md5.toString('base64')) return `stored md5 ${c.md5} differs from the bytes`;
  if (
    target.kind === 's3' &&
    c.etag &&
    /^[0-9a-f]{32}$/.test(c.etag) &&
    c.etag !== actual.md5.toString('hex')
  ) {
    return `stored ETag ${c.etag} differs from the bytes' md5`;
  }
  return null;
}
