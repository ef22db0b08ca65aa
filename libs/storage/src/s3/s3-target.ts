import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { translateStreamErrors } from '../cloud/net-errors.ts';
import { displayEndpoint, ObjectKeys } from '../cloud/object-keys.ts';
import { NotFoundError, PermanentError, type StorageError } from '../errors.ts';
import { assertValidKey, assertValidPrefix } from '../keys.ts';
import { usingBody } from '../put-body.ts';
import { assertValidRange } from '../range.ts';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  StorageTarget,
} from '../target.ts';
import { sha256HexFromS3 } from './part-digests.ts';
import { mapS3Error } from './s3-errors.ts';
import { uploadVerified } from './s3-upload.ts';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3TargetOptions {
  name: string;
  bucket: string;
  /** Objects live under `<prefix>/<key>`; '' for the bucket root. */
  prefix?: string;
  /** For MinIO, s3rver and other S3-compatible servers; absent means AWS. */
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Explicit keys; otherwise the AWS SDK default chain (environment, profile, instance role). */
  credentials?: S3Credentials;
  /**
   * 'sha256': send a SHA-256 checksum with every part and check the one S3 reports back (AWS,
   * MinIO). 'none': no checksum headers at all, for servers without checksum support (s3rver).
   */
  checksums?: 'sha256' | 'none';
  offsite?: boolean;
  /**
   * Multipart part size; memory per put is about partSize × (queueSize + 2). Default 8 MiB (min
   * 5 MiB); raised for a file so large that it would need more than S3's 10,000 parts.
   */
  partSize?: number;
  /** Parts uploaded in parallel. Default 4. */
  queueSize?: number;
  /**
   * SDK attempts per request (1 = no SDK retries). Default 2: RetryingTarget, which every
   * configured target is wrapped in, does the patient retrying with backoff and a deadline.
   */
  maxAttempts?: number;
}

const MiB = 1 << 20;
const MAX_LIST = 1000;

/** A target in an S3 (or S3-compatible) bucket. */
export class S3Target implements StorageTarget {
  readonly name: string;
  readonly kind = 's3' as const;
  readonly offsite: boolean;
  readonly location: string;
  readonly bucket: string;
  readonly endpoint: string;
  private readonly keys: ObjectKeys;
  private readonly client: S3Client;
  private readonly checksums: 'sha256' | 'none';
  private readonly partSize: number;
  private readonly queueSize: number;
  private bucketSeen = false;

  constructor(opts: S3TargetOptions) {
    this.name = opts.name;
    this.bucket = opts.bucket;
    this.offsite = opts.offsite ?? true;
    this.keys = new ObjectKeys(opts.prefix, opts.name);
    this.checksums = opts.checksums ?? 'sha256';
    this.partSize = opts.partSize ?? 8 * MiB;
    // Three parts in flight keep a worker's peak RSS under 200 MB (npm run bench) at full speed.
    this.queueSize = opts.queueSize ?? 3;
    if (this.partSize < 5 * MiB) {
      throw new PermanentError(
        `target ${opts.name}: partSize must be at least 5 MiB (S3's minimum part size)`,
        {
          target: opts.name,
        },
      );
    }
    const region = opts.region ?? 'us-east-1';
    this.endpoint = opts.endpoint ? displayEndpoint(opts.endpoint) : `AWS ${region}`;
    this.location = `s3://${opts.bucket}/${this.keys.prefix} at ${this.endpoint}`;
    const when = this.checksums === 'sha256' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    this.client = new S3Client({
      region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.forcePathStyle !== undefined ? { forcePathStyle: opts.forcePathStyle } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      // With 'none', the SDK would otherwise frame streamed bodies as aws-chunked with a trailing
      // CRC32, which servers without checksum support store as part of the object.
      requestChecksumCalculation: when,
      responseChecksumValidation: when,
      maxAttempts: opts.maxAttempts ?? 2,
      // A black-holed endpoint must fail (and back off) rather than hold an agent: no answer, or no
      // data, for 2 minutes ends a request. Without throwOnRequestTimeout the SDK only logs a warning
      // and waits forever, and only socketTimeout covers a response body that stops flowing.
      requestHandler: {
        connectionTimeout: 10_000,
        requestTimeout: 120_000,
        throwOnRequestTimeout: true,
        socketTimeout: 120_000,
      },
    });
  }

  private err(err: unknown, op: string, key?: string): StorageError {
    const ctx = { target: this.name, bucket: this.bucket, location: this.location, op };
    return mapS3Error(err, key === undefined ? ctx : { ...ctx, key });
  }

  /**
   * Streams the body through the sha256 check into a (multipart, above partSize) upload. The
   * object only appears once CompleteMultipartUpload (or the single PUT) succeeds, so a failed
   * check leaves nothing under the key; lib-storage aborts the multipart upload on any failure.
   * A crash can still strand uploaded parts: give the bucket a lifecycle rule with
   * AbortIncompleteMultipartUpload (e.g. after 1 day) so they do not accrue storage forever.
   */
  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    // Bytes in one Buffer go to lib-storage as they are: it slices them into parts, not copies.
    if (Buffer.isBuffer(body)) return this.upload(key, body, opts);
    await usingBody(body, (stream) => this.upload(key, stream, opts));
  }

  private async upload(key: string, body: Readable | Buffer, opts: PutOptions): Promise<void> {
    assertValidKey(key, this.name);
    await uploadVerified({
      client: this.client,
      target: this.name,
      key,
      bucket: this.bucket,
      objectKey: this.keys.full(key),
      body,
      opts,
      checksums: this.checksums,
      partSize: partSizeFor(this.partSize, opts.size),
      queueSize: this.queueSize,
      mapError: (err) => this.err(err, opts.ifAbsent ? 'create' : 'put', key),
    });
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    assertValidKey(key, this.name);
    if (range) assertValidRange(range, { target: this.name, key });
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.keys.full(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
        signal ? { abortSignal: signal } : {},
      );
      const stream = res.Body as Readable | undefined;
      if (!stream)
        throw new PermanentError(`get ${key} on ${this.location}: response had no body`, {
          target: this.name,
          key,
        });
      return translateStreamErrors(stream, (err) => this.err(err, 'get', key));
    } catch (err) {
      throw this.err(err, 'get', key);
    }
  }

  async head(key: string): Promise<ObjectInfo> {
    assertValidKey(key, this.name);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({
          Bucket: this.bucket,
          Key: this.keys.full(key),
          ...(this.checksums === 'sha256' ? { ChecksumMode: 'ENABLED' as const } : {}),
        }),
      );
      const checksums: NonNullable<ObjectInfo['checksums']> = {};
      const sha256 = sha256HexFromS3(res.ChecksumSHA256);
      if (sha256) checksums.sha256 = sha256;
      if (res.ETag) checksums.etag = res.ETag.replace(/"/g, '');
      return { key, size: res.ContentLength ?? 0, checksums };
    } catch (err) {
      const mapped = this.err(err, 'head', key);
      // HEAD answers a missing bucket with a bare 404, indistinguishable from a missing key.
      if (mapped instanceof NotFoundError) await this.assertBucketExists(key);
      throw mapped;
    }
  }

  /** Lists one page. The cursor is the last key of the previous page, sent as StartAfter. */
  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, this.name);
    const limit = Math.max(1, Math.min(opts.limit ?? MAX_LIST, MAX_LIST));
    try {
      // StartAfter rather than ContinuationToken: it is plain S3 API that every compatible server
      // implements, it is a readable cursor, and s3rver's tokens fail on Node >= 17 (DES).
      const res = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.keys.full(prefix),
          MaxKeys: limit,
          ...(opts.cursor ? { StartAfter: this.keys.full(opts.cursor) } : {}),
        }),
      );
      const objects: ObjectInfo[] = (res.Contents ?? []).map((o) => ({
        key: this.keys.relative(o.Key ?? ''),
        size: o.Size ?? 0,
        ...(o.ETag ? { checksums: { etag: o.ETag.replace(/"/g, '') } } : {}),
      }));
      const last = objects.at(-1);
      return res.IsTruncated && last ? { objects, next: last.key } : { objects };
    } catch (err) {
      throw this.err(err, 'list');
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key, this.name);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keys.full(key) }));
    } catch (err) {
      const mapped = this.err(err, 'delete', key);
      // Deleting what is not there succeeds, as S3 itself answers 204.
      if (mapped instanceof NotFoundError) return;
      throw mapped;
    }
  }

  /** Throws the bucket-missing PermanentError when the bucket is gone; remembers a bucket it has seen. */
  private async assertBucketExists(key: string): Promise<void> {
    if (this.bucketSeen) return;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      this.bucketSeen = true;
    } catch (err) {
      const mapped = this.err(err, 'head', key);
      if (mapped instanceof NotFoundError) throw this.err({ name: 'NoSuchBucket', cause: err }, 'head', key);
      throw mapped;
    }
  }

  /** Releases the SDK's sockets. */
  close(): void {
    this.client.destroy();
  }
}

/** S3 allows 10,000 parts: a file too big for the configured part size gets larger parts. */
export function partSizeFor(configured: number, size: number | undefined): number {
  if (size === undefined) return configured;
  return Math.max(configured, Math.ceil(size / 9_990 / MiB) * MiB);
}
