import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Bucket, Storage, type StorageOptions } from '@google-cloud/storage';
import { OAuth2Client } from 'google-auth-library';
import { bucketMissing } from '../cloud/error-context.ts';
import { translateStreamErrors } from '../cloud/net-errors.ts';
import { displayEndpoint, ObjectKeys } from '../cloud/object-keys.ts';
import { verifiedBody } from '../cloud/verified-body.ts';
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
import { type GcsErrorContext, isForbidden, mapGcsError } from './gcs-errors.ts';
import { awaitDownloadResponse } from './gcs-read.ts';

export interface GcsTargetOptions {
  name: string;
  bucket: string;
  /** Objects live under `<prefix>/<key>`; '' for the bucket root. */
  prefix?: string;
  /** An emulator or private endpoint, e.g. `http://127.0.0.1:4443`; absent means Google. */
  apiEndpoint?: string;
  projectId?: string;
  /** A service-account key file; otherwise Application Default Credentials. */
  keyFilename?: string;
  /**
   * An OAuth2 access token sent as it is, in place of a key file: for a token broker that keeps it
   * fresh, or an emulator that enforces IAM. Implies authWithCustomEndpoint.
   */
  accessToken?: string;
  /** Authenticate against a custom apiEndpoint too (the client skips auth for one by default). */
  authWithCustomEndpoint?: boolean;
  offsite?: boolean;
  /** Resumable upload chunk size, a multiple of 256 KiB; one chunk is buffered per put. Default 8 MiB. */
  chunkSize?: number;
  /**
   * Client-level retries per request (0 = none). Default 1: RetryingTarget, which every configured
   * target is wrapped in, does the patient retrying. Downloads never use the client's retries
   * (see `readBucket`).
   */
  retries?: number;
}

const MiB = 1 << 20;
const CHUNK_UNIT = 256 * 1024;
const MAX_LIST = 1000;

/** What a request interceptor returns (the client's own type, not exported by the package). */
type DecorateRequestOptions = ReturnType<NonNullable<StorageOptions['interceptors_']>[number]['request']>;

/**
 * Downloads go through a client of their own, set up to keep a failing download to itself:
 * - No client retries. retry-request destroys a download's request stream when it retries, and
 *   teeny-request then pipes the next response into that destroyed stream from inside a promise
 *   callback: an uncaught ERR_STREAM_UNABLE_TO_PIPE that ends the process (seen with 503s).
 *   RetryingTarget retries a failed read instead, or resumes it at the byte it stopped.
 * - No shared keep-alive agent (`forever: false`). On any download error the client destroys the
 *   agent of the request, and with `forever` that is one agent for every GCS request of the
 *   process, so one reader stopping early reset every other download, head and listing in flight.
 */
const DOWNLOAD_CLIENT_OPTIONS: Pick<StorageOptions, 'retryOptions' | 'interceptors_'> = {
  retryOptions: { autoRetry: false, maxRetries: 0 },
  interceptors_: [{ request: (reqOpts) => ({ ...reqOpts, forever: false }) as DecorateRequestOptions }],
};

/** A target in a Google Cloud Storage bucket. */
export class GcsTarget implements StorageTarget {
  readonly name: string;
  readonly kind = 'gcs' as const;
  readonly offsite: boolean;
  readonly location: string;
  readonly bucketName: string;
  private readonly keys: ObjectKeys;
  private readonly bucket: Bucket;
  private readonly readBucket: Bucket;
  private readonly chunkSize: number;
  private bucketSeen = false;

  constructor(opts: GcsTargetOptions) {
    this.name = opts.name;
    this.bucketName = opts.bucket;
    this.offsite = opts.offsite ?? true;
    this.keys = new ObjectKeys(opts.prefix, opts.name);
    this.chunkSize = opts.chunkSize ?? 8 * MiB;
    if (this.chunkSize % CHUNK_UNIT !== 0) {
      throw new PermanentError(`target ${opts.name}: chunkSize must be a multiple of 256 KiB`, {
        target: opts.name,
      });
    }
    const endpoint = opts.apiEndpoint ? displayEndpoint(opts.apiEndpoint) : 'https://storage.googleapis.com';
    this.location = `gs://${opts.bucket}/${this.keys.prefix} at ${endpoint}`;
    const retries = opts.retries ?? 1;
    const storageOpts: StorageOptions = {
      // A black-holed endpoint must fail (and back off) rather than hold an agent.
      timeout: 120_000,
      ...(opts.apiEndpoint ? { apiEndpoint: opts.apiEndpoint } : {}),
      ...(opts.projectId ? { projectId: opts.projectId } : {}),
      ...(opts.keyFilename ? { keyFilename: opts.keyFilename } : {}),
      ...(opts.authWithCustomEndpoint || opts.accessToken ? { useAuthWithCustomEndpoint: true } : {}),
      ...(opts.accessToken ? { authClient: staticToken(opts.accessToken) } : {}),
    };
    // The client's resumable uploads leave the auth client out on a custom endpoint whatever
    // useAuthWithCustomEndpoint says (@google-cloud/storage 8.4, File.startResumableUpload_), but
    // they do send the interceptors' headers: the token goes there too.
    const bearer = opts.accessToken ? [bearerInterceptor(opts.accessToken)] : [];
    this.bucket = new Storage({
      ...storageOpts,
      retryOptions: { autoRetry: retries > 0, maxRetries: retries },
      interceptors_: bearer,
    }).bucket(opts.bucket);
    this.readBucket = new Storage({
      ...storageOpts,
      ...DOWNLOAD_CLIENT_OPTIONS,
      interceptors_: [...bearer, ...(DOWNLOAD_CLIENT_OPTIONS.interceptors_ ?? [])],
    }).bucket(opts.bucket);
  }

  private ctx(op: string, key?: string): GcsErrorContext {
    const base = { target: this.name, bucket: this.bucketName, location: this.location, op };
    return key === undefined ? base : { ...base, key };
  }

  private err(err: unknown, op: string, key?: string): StorageError {
    return mapGcsError(err, this.ctx(op, key));
  }

  /**
   * A resumable upload in chunkSize pieces through the sha256 check. Each chunk is sent only once
   * the next bytes (or the end) have arrived, and the verifier holds back the last bytes until the
   * digest is known good, so on a mismatch the final chunk is never sent and the object is never
   * created; the half-done session is then cancelled. The client also compares its own MD5 with
   * the one GCS computed, and deletes the object on a mismatch. MD5, not crc32c: the client
   * computes crc32c in JavaScript at about 130 MB/s, a core's worth for a fast link (O2's profile),
   * and MD5 natively; GCS keeps an MD5 for every object that is not composed, as ours never are.
   * With `ifAbsent` the upload carries `ifGenerationMatch=0`: GCS answers 412 when the object
   * exists, which an agent's objectCreator role needs (it may not overwrite).
   */
  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    await usingBody(body, (stream) => this.upload(key, stream, opts));
  }

  private async upload(key: string, body: Readable, opts: PutOptions): Promise<void> {
    assertValidKey(key, this.name);
    const { verifier, mismatch } = verifiedBody(this.name, key, opts);
    const file = this.bucket.file(this.keys.full(key));
    let session: string | undefined;
    let failed = false;
    const upload = file.createWriteStream({
      resumable: true,
      chunkSize: this.chunkSize,
      validation: 'md5',
      contentType: 'application/octet-stream',
      // Informational: lets an operator see what the object should hash to.
      metadata: { metadata: { sha256: opts.sha256 } },
      ...(opts.ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
    });
    upload.on('uri', (uri: string) => {
      session = uri;
      // The client may still open the session after the stream already failed.
      if (failed) void cancelSession(uri);
    });
    try {
      await pipeline([body, verifier, upload], opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      failed = true;
      if (session !== undefined) await cancelSession(session);
      const bad = mismatch();
      if (bad) throw bad;
      const mapped = this.err(err, opts.ifAbsent ? 'create' : 'put', key);
      // An upload can only 404 when its bucket is missing.
      if (mapped instanceof NotFoundError) throw bucketMissing(this.ctx('put', key), err);
      throw mapped;
    }
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    assertValidKey(key, this.name);
    if (range) assertValidRange(range, { target: this.name, key });
    signal?.throwIfAborted();
    const file = this.readBucket.file(this.keys.full(key));
    // Whole reads are checked against the stored MD5 (see upload); the client cannot check a range.
    const stream = file.createReadStream(
      range
        ? { start: range.start, ...(range.end !== undefined ? { end: range.end } : {}) }
        : { validation: 'md5' },
    );
    try {
      // Destroys the stream itself, and only once that is safe.
      await awaitDownloadResponse(stream, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      throw await this.notFoundOrBucket(err, 'get', key);
    }
    const out = translateStreamErrors(stream, (err) => this.err(err, 'get', key));
    return signal ? addAbortSignal(signal, out) : out;
  }

  async head(key: string): Promise<ObjectInfo> {
    assertValidKey(key, this.name);
    try {
      const [meta] = await this.bucket.file(this.keys.full(key)).getMetadata();
      const checksums: NonNullable<ObjectInfo['checksums']> = {};
      if (meta.md5Hash) checksums.md5 = meta.md5Hash;
      if (meta.crc32c) checksums.crc32c = meta.crc32c;
      if (meta.etag) checksums.etag = meta.etag;
      return { key, size: Number(meta.size ?? 0), checksums };
    } catch (err) {
      throw await this.notFoundOrBucket(err, 'head', key);
    }
  }

  /** Lists one page; the cursor is GCS's own pageToken. */
  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, this.name);
    const limit = Math.max(1, Math.min(opts.limit ?? MAX_LIST, MAX_LIST));
    try {
      const [files, next] = await this.bucket.getFiles({
        prefix: this.keys.full(prefix),
        maxResults: limit,
        autoPaginate: false,
        ...(opts.cursor ? { pageToken: opts.cursor } : {}),
      });
      const objects: ObjectInfo[] = files.map((f) => ({
        key: this.keys.relative(f.name),
        size: Number(f.metadata.size ?? 0),
        checksums: {
          ...(f.metadata.md5Hash ? { md5: f.metadata.md5Hash } : {}),
          ...(f.metadata.crc32c ? { crc32c: f.metadata.crc32c } : {}),
          ...(f.metadata.etag ? { etag: f.metadata.etag } : {}),
        },
      }));
      const token = (next as { pageToken?: unknown } | null)?.pageToken;
      return typeof token === 'string' && token !== '' ? { objects, next: token } : { objects };
    } catch (err) {
      const mapped = this.err(err, 'list');
      // Listing a prefix never 404s; only a missing bucket does.
      if (mapped instanceof NotFoundError) throw bucketMissing(this.ctx('list'), err);
      throw mapped;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key, this.name);
    try {
      await this.bucket.file(this.keys.full(key)).delete();
    } catch (err) {
      // Deleting what is not there succeeds, unless "not there" is the whole bucket.
      const mapped = await this.notFoundOrBucket(err, 'delete', key);
      if (mapped instanceof NotFoundError) return;
      throw mapped;
    }
  }

  /** Maps an error; a 404 becomes the bucket-missing PermanentError when the bucket is gone. */
  private async notFoundOrBucket(err: unknown, op: string, key: string): Promise<StorageError> {
    const mapped = this.err(err, op, key);
    if (!(mapped instanceof NotFoundError) || this.bucketSeen) return mapped;
    try {
      const [exists] = await this.bucket.exists();
      if (!exists) return bucketMissing(this.ctx(op, key), err);
      this.bucketSeen = true;
      return mapped;
    } catch (checkErr) {
      // A least-privileged credential (roles/storage.objectAdmin) may not read the bucket's own
      // metadata: the object's 404 then stands, as it would had the bucket been seen.
      return isForbidden(checkErr) ? mapped : this.err(checkErr, op, key);
    }
  }
}

/** Adds the access token to every request, resumable uploads included. */
export function bearerInterceptor(token: string): NonNullable<StorageOptions['interceptors_']>[number] {
  return {
    request: (reqOpts) =>
      ({
        ...reqOpts,
        headers: { ...reqOpts.headers, Authorization: `Bearer ${token}` },
      }) as DecorateRequestOptions,
  };
}

/** An auth client that sends one access token and never refreshes it. */
function staticToken(token: string): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token });
  return client;
}

/**
 * Cancels a resumable session (GCS answers DELETE on the session URL with 499), so a failed put
 * does not leave a half-uploaded session behind. Best effort: the session URL is its own
 * credential, and GCS expires forgotten sessions after a week anyway.
 */
async function cancelSession(uri: string): Promise<void> {
  try {
    await fetch(uri, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
  } catch {
    // The endpoint may be the reason the put failed.
  }
}
