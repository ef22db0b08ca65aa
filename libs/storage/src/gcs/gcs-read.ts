import type { Readable } from 'node:stream';
import { numberField } from '../cloud/net-errors.ts';

/**
 * @google-cloud/storage only sends a download request once its stream is read, and reports a 404
 * as a stream error. This starts the request and waits for a successful response or that error,
 * so `get` can throw NotFoundError itself instead of handing back a stream that fails later.
 * The stream stays paused: no byte is lost before the caller starts reading.
 */
export function awaitDownloadResponse(stream: Readable, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('response', onResponse);
      stream.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onResponse = (res: unknown) => {
      const status = numberField(res, 'statusCode') ?? numberField(res, 'status');
      // A failed response is followed by an 'error' carrying the body's message; wait for that.
      if (status !== undefined && status >= 300) return;
      cleanup();
      resolve();
    };
    const onError = (err: unknown) => {
      cleanup();
      reject(err);
    };
    const onAbort = () => {
      stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    stream.on('response', onResponse);
    stream.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    // read(0) makes the stream call _read, which is what triggers the request.
    stream.read(0);
  });
}
