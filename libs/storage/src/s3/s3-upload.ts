import { PassThrough, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { verifiedBody } from '../cloud/verified-body.ts';
import { PermanentError, type StorageError, TransientError } from '../errors.ts';
import type { PutOptions } from '../target.ts';
import { PartDigests } from './part-digests.ts';

export interface VerifiedUpload {
  client: S3Client;
  target: string;
  /** The target key (for messages). */
  key: string;
  bucket: string;
  /** The object name in the bucket. */
  objectKey: string;
  body: Readable;
  opts: PutOptions;
  checksums: 'sha256' | 'none';
  partSize: number;
  queueSize: number;
  mapError: (err: unknown) => StorageError;
}

/**
 * body → Sha256Verifier → (PartDigests) → lib-storage Upload. The verifier holds back the last
 * chunk until the digest is known good, so on a mismatch the upload never sees the end of its
 * input: no single PUT is sent and no CompleteMultipartUpload either.
 */
export async function uploadVerified(u: VerifiedUpload): Promise<void> {
  const { verifier, mismatch } = verifiedBody(u.target, u.key, u.opts);
  const parts = u.checksums === 'sha256' ? new PartDigests(u.partSize) : undefined;
  const feed = new PassThrough({ highWaterMark: 1 << 20 });
  const stages: (Readable | Transform | PassThrough)[] = [u.body, verifier, ...(parts ? [parts] : []), feed];
  let sourceFailure: unknown;
  let feedDestroyedByUs = false;
  const piping = pipeline(stages, u.opts.signal ? { signal: u.opts.signal } : {}).then(
    () => undefined,
    (err: unknown) => {
      sourceFailure = err;
    },
  );
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  u.opts.signal?.addEventListener('abort', onAbort, { once: true });
  const upload = new Upload({
    client: u.client,
    params: {
      Bucket: u.bucket,
      Key: u.objectKey,
      Body: feed,
      ContentType: 'application/octet-stream',
      // Informational: lets an operator see what a (multipart) object should hash to.
      Metadata: { sha256: u.opts.sha256 },
      ...(parts ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
    },
    partSize: u.partSize,
    queueSize: u.queueSize,
    leavePartsOnError: false,
    abortController: abort,
  });
  let reported: string | undefined;
  try {
    const result = await upload.done();
    reported = 'ChecksumSHA256' in result ? result.ChecksumSHA256 : undefined;
  } catch (err) {
    // The upload stopped reading; unblock the pipeline so it settles.
    if (!feed.destroyed) {
      feedDestroyedByUs = true;
      feed.destroy();
    }
    await piping;
    // The verifier's verdict wins over whatever the upload reported because of it: lib-storage
    // throws the AbortMultipartUpload failure in place of the original error when the abort
    // fails, and s3rver answers every abort with 405 MethodNotAllowed.
    const bad = mismatch();
    if (bad) throw bad;
    if (sourceFailure !== undefined && !feedDestroyedByUs) throw sourceFailure;
    throw u.mapError(err);
  } finally {
    u.opts.signal?.removeEventListener('abort', onAbort);
  }
  await piping;
  if (parts) await checkReportedChecksum(u, parts.expected(), reported);
}

/** With checksums on, S3 must report the SHA-256 we computed; anything else means a damaged object. */
async function checkReportedChecksum(
  u: VerifiedUpload,
  expected: string,
  reported: string | undefined,
): Promise<void> {
  if (reported === expected) return;
  if (reported === undefined) {
    throw new PermanentError(
      `put ${u.key} on target ${u.target}: the endpoint stored the object but reported no SHA-256 checksum; ` +
        'it does not support S3 checksums, so set checksums=none for this target',
      { target: u.target, key: u.key },
    );
  }
  // Never leave bytes under the key that differ from what was verified.
  await u.client.send(new DeleteObjectCommand({ Bucket: u.bucket, Key: u.objectKey })).catch(() => undefined);
  throw new TransientError(
    `put ${u.key} on target ${u.target}: the endpoint reported checksum ${reported}, expected ${expected}; ` +
      'the object was deleted, retry the put',
    { target: u.target, key: u.key },
  );
}
