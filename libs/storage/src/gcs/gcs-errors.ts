import { type CloudErrorContext, errorBuilders } from '../cloud/error-context.ts';
import { errorField, networkCode, numberField, stringField } from '../cloud/net-errors.ts';
import { AlreadyExistsError, CorruptObjectError, NotFoundError, StorageError } from '../errors.ts';

/** Where a failed GCS call was aimed, for messages an operator can act on (never credentials). */
export type GcsErrorContext = CloudErrorContext;

/**
 * The HTTP status of a @google-cloud/storage failure: ApiError carries it as `code`, gaxios
 * errors (resumable uploads) as `status` or `response.status`.
 */
function statusOf(err: unknown): number | undefined {
  return (
    numberField(err, 'code') ??
    numberField(err, 'status') ??
    numberField(errorField(err, 'response'), 'status') ??
    numberField(errorField(err, 'response'), 'statusCode')
  );
}

/** A 403: the credential lacks the permission (an objectAdmin asking about its bucket). */
export function isForbidden(err: unknown): boolean {
  return statusOf(err) === 403;
}

/** Translates a @google-cloud/storage (or network) failure into the typed storage errors. */
export function mapGcsError(err: unknown, ctx: GcsErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const status = statusOf(err);
  const code = stringField(err, 'code');
  const message = stringField(err, 'message') ?? '';
  const { opts, what, permanent, transient } = errorBuilders(ctx, err, status ?? code);

  if (status === 404) return new NotFoundError(ctx.target, ctx.key ?? '', err);
  // A create-only put (ifGenerationMatch=0) that found the key taken.
  if (status === 412 && ctx.op === 'create') return new AlreadyExistsError(ctx.target, ctx.key ?? '', err);
  if (status === 401 || /default credentials|could not load the default|invalid_grant/i.test(message)) {
    return permanent(
      'the credentials were rejected or not found; set keyFilename in the target options or GOOGLE_APPLICATION_CREDENTIALS',
    );
  }
  if (status === 403) {
    return permanent(
      `access denied; grant the service account roles/storage.objectAdmin on bucket ${ctx.bucket}`,
    );
  }
  if (code === 'CONTENT_DOWNLOAD_MISMATCH') {
    // TLS rules out damage in transit, so the stored bytes no longer match their checksum.
    return new CorruptObjectError(
      `${what} failed: the bytes read do not match the stored checksum, so the object is corrupt; restore it from another copy`,
      opts,
    );
  }
  if (code === 'FILE_NO_UPLOAD' || code === 'FILE_NO_UPLOAD_DELETED') {
    return transient('the stored object did not match the checksum of the bytes sent (it was deleted)');
  }
  if (status === 412) return permanent('a precondition failed (the object changed meanwhile)');
  if (status === 416) return permanent('the byte range is past the end of the object');
  const net = networkCode(err);
  if (net !== undefined) return transient(`cannot reach the endpoint (${net})`);
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    return transient(`the endpoint answered ${status}`);
  }
  if (status !== undefined && status >= 400)
    return permanent(`the endpoint rejected the request: ${message}`);
  if (stringField(err, 'name') === 'AbortError') return transient('the request was aborted');
  // No HTTP status at all: something between us and the endpoint failed.
  return transient(`unexpected error ${code ?? message}`);
}
