import { EventEmitter, setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { numberField } from '../cloud/net-errors.ts';

/** The reason an aborted signal carries, as an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('This operation was aborted', 'AbortError');
}

/**
 * The response is the body stream of the download's fetch, and three pipelines and their
 * end-of-stream watchers of @google-cloud/storage, teeny-request and node-fetch put 11 `error` and
 * 11 `close` listeners on it: one over Node's limit of 10, so each large download printed a
 * MaxListenersExceededWarning (googleapis/google-cloud-node#9185). They go with the response, so
 * it is no leak. Its own limit is raised to what those need, with room; the default stays for
 * every other emitter, where a warning would still mean a leak.
 */
const DOWNLOAD_BODY_LISTENERS = 24;

function containListeners(res: unknown): void {
  if (res instanceof EventEmitter) setMaxListeners(DOWNLOAD_BODY_LISTENERS, res);
}

/**
 * @google-cloud/storage only sends a download request once its stream is read, and reports a 404
 * as a stream error. This starts the request and waits for a successful response or that error,
 * so `get` can throw NotFoundError itself instead of handing back a stream that fails later.
 * The stream stays paused: no byte is lost before the caller starts reading.
 *
 * The stream must not be destroyed before its response has arrived: the client then pipes the
 * response into the destroyed stream from inside a promise callback, which throws
 * ERR_STREAM_UNABLE_TO_PIPE where nothing can catch it and ends the process. So an abort rejects
 * at once but destroys the stream only after the response (or the request's own error) came.
 */
export function awaitDownloadResponse(stream: Readable, signal?: AbortSignal): Promise<void> {
  // Errors after this wait are reported by whoever reads the stream (translateStreamErrors); this
  // listener only keeps one emitted while nobody listens (an abandoned download) from being fatal.
  stream.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    let abandoned = false;
    const stopWaiting = () => {
      stream.off('response', onResponse);
      stream.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const onResponse = (res: unknown) => {
      containListeners(res);
      const status = numberField(res, 'statusCode') ?? numberField(res, 'status');
      // A failed response is followed by an 'error' carrying the body's message; wait for that.
      if (status !== undefined && status >= 300) return;
      stopWaiting();
      // The client sets up its own pipe right after this event: destroy only once that is done.
      if (abandoned) setImmediate(() => stream.destroy());
      else resolve();
    };
    const onError = (err: unknown) => {
      stopWaiting();
      if (!abandoned) reject(err);
    };
    const onAbort = () => {
      abandoned = true;
      signal?.removeEventListener('abort', onAbort);
      if (signal) reject(abortReason(signal));
    };
    stream.on('response', onResponse);
    stream.on('error', onError);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    // read(0) makes the stream call _read, which is what triggers the request.
    stream.read(0);
  });
}
