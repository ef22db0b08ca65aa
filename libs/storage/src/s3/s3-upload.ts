import { PassThrough, type Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { checkBytes, verifiedBody } from '../cloud/verified-body.ts';
import { PermanentError, type StorageError, TransientError } from '../errors.ts';
import type { PutOptions } from '../target.ts';
import { PartDigests, partChecksumOf } from './part-digests.ts';

export interface VerifiedUpload {
  client: S3Client;
  target: string;
  /** The target key (for messages). */
  key: string;
  bucket: string;
  /** The object name in the bucket. */
  objectKey: string;
  /** A stream, verified as it flows; or bytes held whole, checked before the upload starts. */
  body: Readable | Buffer;
  opts: PutOptions;
  checksums: 'sha256' | 'none';
  partSize: number;
  queueSize: number;
  mapError: (err: unknown) => StorageError;
}

/**
 * A stream: body → Sha256Verifier → (PartDigests) → lib-storage Upload. The verifier holds back
 * the last chunk until the digest is known good, so on a mismatch the upload never sees the end of
 * its input: no single PUT is sent and no CompleteMultipartUpload either. A Buffer: checked whole
 * first, then handed to lib-storage as it is, which slices it into parts where a stream's bytes
 * are copied into a part-sized buffer each (a pack's size again).
 */
export async function uploadVerified(u: VerifiedUpload): Promise<void> {
  if (Buffer.isBuffer(u.body)) await uploadBytes(u, u.body);
  else await uploadStream(u, u.body);
}

async function uploadBytes(u: VerifiedUpload, bytes: Buffer): Promise<void> {
  // Held whole, the bytes are checked before any is sent: a mismatch sends nothing at all.
  checkBytes(u.target, u.key, u.opts, bytes);
  u.opts.signal?.throwIfAborted();
  let reported: string | undefined;
  try {
    reported = await upload(u, bytes);
  } catch (err) {
    u.opts.signal?.throwIfAborted();
    throw u.mapError(err);
  }
  if (u.checksums === 'sha256') await checkReportedChecksum(u, partChecksumOf(bytes, u.partSize), reported);
}

async function uploadStream(u: VerifiedUpload, body: Readable): Promise<void> {
  const { verifier, mismatch } = verifiedBody(u.target, u.key, u.opts);
  const parts = u.checksums === 'sha256' ? new PartDigests(u.partSize) : undefined;
  const feed = new PassThrough({ highWaterMark: 1 << 20 });
  const stages: (Readable | Transform | PassThrough)[] = [body, verifier, ...(parts ? [parts] : []), feed];
  let sourceFailure: unknown;
  let feedDestroyedByUs = false;
  const piping = pipeline(stages, u.opts.signal ? { signal: u.opts.signal } : {}).then(
    () => undefined,
    (err: unknown) => {
      sourceFailure = err;
    },
  );
  let reported: string | undefined;
  try {
    reported = await upload(u, feed);
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
  }
  await piping;
  if (parts) await checkReportedChecksum(u, parts.expected(), reported);
}

/**
 * The lib-storage upload of a put's body, stopped when the put's signal aborts; resolves to the
 * SHA-256 checksum S3 reported.
 */
async function upload(u: VerifiedUpload, body: Buffer | Readable): Promise<string | undefined> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  u.opts.signal?.addEventListener('abort', onAbort, { once: true });
  const job = new Upload({
    client: u.client,
    params: {
      Bucket: u.bucket,
      Key: u.objectKey,
      Body: body,
      ContentType: 'application/octet-stream',
      // Informational: lets an operator see what a (multipart) object should hash to.
      Metadata: { sha256: u.opts.sha256 },
      // Create only: S3 answers 412 when the key exists (on CompleteMultipartUpload for a multipart).
      ...(u.opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
      ...(u.checksums === 'sha256' ? { ChecksumAlgorithm: 'SHA256' as const } : {}),
    },
    partSize: u.partSize,
    queueSize: u.queueSize,
    leavePartsOnError: false,
    abortController: abort,
  });
  try {
    const result = await job.done();
    return 'ChecksumSHA256' in result ? result.ChecksumSHA256 : undefined;
  } finally {
    u.opts.signal?.removeEventListener('abort', onAbort);
  }
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
