import { describe, expect, it } from 'vitest';
import { CorruptObjectError, NotFoundError, PermanentError, TransientError } from '../errors.ts';
import { mapS3Error } from './s3-errors.ts';

const ctx = {
  target: 'offsite',
  key: 'a/b',
  bucket: 'bkt',
  location: 's3://bkt/p at http://h:9000',
  op: 'get',
};

function sdkError(name: string, status: number | undefined): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });
}

describe('mapS3Error', () => {
  it.each([
    ['NoSuchKey', 404, NotFoundError],
    ['NotFound', 404, NotFoundError],
    ['NoSuchBucket', 404, PermanentError],
    ['InvalidAccessKeyId', 403, PermanentError],
    ['SignatureDoesNotMatch', 403, PermanentError],
    ['AccessDenied', 403, PermanentError],
    ['Forbidden', 403, PermanentError],
    ['InvalidRange', 416, PermanentError],
    ['SlowDown', 503, TransientError],
    ['ServiceUnavailable', 503, TransientError],
    ['InternalError', 500, TransientError],
    ['Unknown', 502, TransientError],
    ['TooManyRequests', 429, TransientError],
    ['BadDigest', 400, TransientError],
    ['InvalidArgument', 400, PermanentError],
    ['TimeoutError', undefined, TransientError],
  ])('%s (%s) → %o', (name, status, type) => {
    expect(mapS3Error(sdkError(name, status), ctx)).toBeInstanceOf(type);
  });

  it('treats connection failures as transient, even wrapped in a cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(mapS3Error(refused, ctx)).toBeInstanceOf(TransientError);
    expect(mapS3Error(new Error('fetch failed', { cause: refused }), ctx)).toBeInstanceOf(TransientError);
    expect(mapS3Error(Object.assign(new Error('x'), { code: 'ECONNRESET' }), ctx)).toBeInstanceOf(
      TransientError,
    );
  });

  it('calls a download that fails the checksum stored with the object corruption', () => {
    const err = mapS3Error(
      new Error(
        'Checksum mismatch: expected "a" but received "b" in response header "x-amz-checksum-sha256".',
      ),
      ctx,
    );
    expect(err).toBeInstanceOf(CorruptObjectError);
    expect(err.message).toMatch(/get a\/b on s3:\/\/bkt\/p at http:\/\/h:9000 failed: .* object is corrupt/);
  });

  it('names the bucket and endpoint for a missing bucket, and keeps the key and cause', () => {
    const cause = sdkError('NoSuchBucket', 404);
    const err = mapS3Error(cause, ctx);
    expect(err.message).toContain('bucket bkt does not exist at s3://bkt/p at http://h:9000');
    expect(err.key).toBe('a/b');
    expect(err.target).toBe('offsite');
    expect(err.cause).toBe(cause);
  });
});
