import { bucketMissing, type CloudErrorContext, errorBuilders } from '../cloud/error-context.ts';
import { errorField, networkCode, numberField, stringField } from '../cloud/net-errors.ts';
import { AlreadyExistsError, CorruptObjectError, NotFoundError, StorageError } from '../errors.ts';

/** Where a failed S3 call was aimed, for messages an operator can act on (never credentials). */
export type S3ErrorContext = CloudErrorContext;

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound']);
const THROTTLED = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'InternalError',
  'RequestTimeout',
  'RequestTimeoutException',
  'OperationAborted',
]);
/** The bytes arrived damaged: a retry resends them. */
const CORRUPT_IN_TRANSIT = new Set(['BadDigest', 'XAmzContentSHA256Mismatch', 'InvalidDigest']);

function codeOf(err: unknown): string | undefined {
  return stringField(err, 'Code') ?? stringField(err, 'name');
}

function statusOf(err: unknown): number | undefined {
  return numberField(errorField(err, '$metadata'), 'httpStatusCode') ?? numberField(err, 'statusCode');
}

/** Translates an AWS SDK (or network) failure into the typed storage errors. */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const code = codeOf(err);
  const status = statusOf(err);
  const { opts, what, permanent, transient } = errorBuilders(ctx, err, code ?? status);

  if (code === 'NoSuchBucket') return bucketMissing(ctx, err);
  // A create-only put (If-None-Match: *) that found the key taken.
  if (status === 412 && ctx.op === 'create') return new AlreadyExistsError(ctx.target, ctx.key ?? '', err);
  if ((code !== undefined && NOT_FOUND.has(code)) || status === 404) {
    return new NotFoundError(ctx.target, ctx.key ?? '', err);
  }
  if (code === 'InvalidAccessKeyId') {
    return permanent(
      'the access key id is not known to this endpoint; check the credentials configured for the target',
    );
  }
  if (code === 'SignatureDoesNotMatch') {
    return permanent('the secret access key does not match the access key id; check the target credentials');
  }
  if (code === 'ExpiredToken' || code === 'InvalidToken' || code === 'TokenRefreshRequired') {
    return permanent('the session token is expired or invalid; refresh the credentials');
  }
  if (code === 'CredentialsProviderError') {
    return permanent(
      'no AWS credentials found; set credentials in the target options or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
    );
  }
  if (code === 'AccessDenied' || code === 'AllAccessDisabled' || status === 403 || status === 401) {
    return permanent(
      `access denied; grant s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on bucket ${ctx.bucket}`,
    );
  }
  if (code === 'InvalidRange' || status === 416)
    return permanent('the byte range is past the end of the object');
  if (code === 'RequestTimeTooSkewed') return permanent('this host clock is too far off; sync it (NTP)');
  if (/^Checksum mismatch/.test(stringField(err, 'message') ?? '')) {
    // The SDK's check of a download against the checksum S3 stored with the object (over TLS,
    // not damage in transit): the stored bytes no longer match it.
    return new CorruptObjectError(
      `${what} failed: the bytes read do not match the checksum stored with the object, so the object is corrupt; restore it from another copy`,
      opts,
    );
  }
  if (code !== undefined && CORRUPT_IN_TRANSIT.has(code))
    return transient('the bytes were damaged in transit');
  if (code !== undefined && THROTTLED.has(code)) return transient(`the endpoint is busy (${code})`);
  const net = networkCode(err);
  if (net !== undefined) return transient(`cannot reach the endpoint (${net})`);
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    return transient(`the endpoint answered ${status}${code ? ` ${code}` : ''}`);
  }
  if (code === 'AbortError') return transient('the request was aborted');
  if (status !== undefined && status >= 400) return permanent('the endpoint rejected the request');
  // No HTTP status at all: something between us and the endpoint failed.
  return transient(`unexpected error ${code ?? String(err)}`);
}
