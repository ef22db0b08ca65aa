import { describe, expect, it } from 'vitest';
import { CorruptObjectError, NotFoundError, PermanentError, TransientError } from '../errors.ts';
import { mapGcsError } from './gcs-errors.ts';

const ctx = { target: 'gcs', key: 'a/b', bucket: 'bkt', location: 'gs://bkt/p at http://h', op: 'get' };

describe('mapGcsError', () => {
  it.each([
    [{ code: 404 }, NotFoundError],
    [{ code: 401 }, PermanentError],
    [{ code: 403 }, PermanentError],
    [{ code: 412 }, PermanentError],
    [{ code: 416 }, PermanentError],
    [{ code: 400 }, PermanentError],
    [{ code: 429 }, TransientError],
    [{ code: 500 }, TransientError],
    [{ code: 503 }, TransientError],
    [{ status: 503 }, TransientError],
    [{ response: { status: 404 } }, NotFoundError],
    [{ code: 'ECONNREFUSED' }, TransientError],
    [{ code: 'CONTENT_DOWNLOAD_MISMATCH' }, CorruptObjectError],
    [{ code: 'FILE_NO_UPLOAD' }, TransientError],
  ])('%o → %o', (fields, type) => {
    expect(mapGcsError(Object.assign(new Error('boom'), fields), ctx)).toBeInstanceOf(type);
  });

  it('calls a download that fails its stored checksum corruption, not unreachability', () => {
    const err = mapGcsError(Object.assign(new Error('mismatch'), { code: 'CONTENT_DOWNLOAD_MISMATCH' }), ctx);
    expect(err).toBeInstanceOf(CorruptObjectError);
    expect(err.transient).toBe(false);
    expect(err.message).toMatch(/object is corrupt; restore it from another copy/);
  });

  it('sees network codes through fetch causes', () => {
    const err = new TypeError('fetch failed', {
      cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }),
    });
    expect(mapGcsError(err, ctx)).toBeInstanceOf(TransientError);
  });

  it('says what to do when no credentials are found', () => {
    const err = mapGcsError(new Error('Could not load the default credentials. Browse to …'), ctx);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
  });
});
