import { Readable } from 'node:stream';
import { PermanentError, type StorageError, TransientError } from '../errors.ts';
import { resolveRange } from '../range.ts';
import type { ByteRange, ObjectInfo, StorageTarget } from '../target.ts';
import { isRetryable } from './retry-policy.ts';
import { type RetryContext, withRetries } from './with-retries.ts';

/** The part of the object a read delivers: inclusive bounds, and how many bytes that is. */
interface Span {
  start: number;
  end: number;
  length: number;
}

function spanOf(
  info: ObjectInfo,
  range: ByteRange | undefined,
  where: { target: string; key: string },
): Span {
  if (info.size === 0 && range === undefined) return { start: 0, end: -1, length: 0 };
  const bounds = resolveRange(range ?? { start: 0 }, info.size, where);
  const start = bounds.start ?? 0;
  const end = bounds.end ?? info.size - 1;
  return { start, end, length: end - start + 1 };
}

/** True when two looks at an object see the same bytes (size and every checksum both report). */
function sameObject(a: ObjectInfo, b: ObjectInfo): boolean {
  if (a.size !== b.size) return false;
  const x = a.checksums ?? {};
  const y = b.checksums ?? {};
  // Not the etag: GCS gives every write a new one, even of the same bytes (a re-put blob).
  return (['sha256', 'md5', 'crc32c'] as const).every((c) => !x[c] || !y[c] || x[c] === y[c]);
}

/**
 * A get that survives a connection lost midway: it learns the object's size first, and when the
 * stream errors (transiently) or ends short of it, it opens the rest with a range starting at the
 * first byte not yet delivered. The caller receives exactly the object's bytes, once each, in
 * order, so verify and restore hash what is stored. Resuming assumes the object does not change
 * while it is read (blobs and manifests are written once); a change of size or checksum fails the
 * read rather than splice two versions together.
 */
export async function retryingGet(
  ctx: RetryContext,
  inner: StorageTarget,
  key: string,
  range: ByteRange | undefined,
  signal: AbortSignal | undefined,
): Promise<Readable> {
  const where = { target: inner.name, key };
  const info = await withRetries(ctx, { op: 'head', key, signal, attempt: () => inner.head(key) });
  const span = spanOf(info, range, where);
  // The first read asks for what the caller asked for: a whole read keeps the adapter's own
  // end-to-end check (GCS validates crc32c on whole reads only).
  const first = await withRetries(ctx, {
    op: 'get',
    key,
    signal,
    attempt: () => inner.get(key, range, signal),
  });
  const closed = new AbortController();
  const stopped = signal ? AbortSignal.any([signal, closed.signal]) : closed.signal;
  const resume = async (delivered: number, failure: StorageError): Promise<Readable> =>
    withRetries(ctx, {
      op: 'resume get',
      key,
      signal: stopped,
      after: failure,
      attempt: async () => {
        const now = await inner.head(key);
        if (!sameObject(info, now)) {
          throw new PermanentError(
            `${key} on target ${inner.name} changed while it was being read (${info.size} bytes, now ${now.size}); read it again`,
            where,
          );
        }
        return inner.get(key, { start: span.start + delivered, end: span.end }, stopped);
      },
    });
  const chunks = deliver(first, span, where, resume, signal, closed.signal);
  return new Readable({
    highWaterMark: 1 << 20,
    read() {
      chunks.next().then(
        ({ value, done }) => this.push(done ? null : value),
        (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    },
    destroy(err, callback) {
      // Release the connection at once, without waiting for a chunk in flight to arrive.
      closed.abort();
      chunks.return(undefined).then(
        () => callback(err),
        () => callback(err),
      );
    },
  });
}

/** Yields the span's bytes from `first`, and from resumed reads after each interruption. */
async function* deliver(
  first: Readable,
  span: Span,
  where: { target: string; key: string },
  resume: (delivered: number, failure: StorageError) => Promise<Readable>,
  signal: AbortSignal | undefined,
  closed: AbortSignal,
): AsyncGenerator<Buffer> {
  let current = first;
  let delivered = 0;
  // A reader that stops early releases the connection now, not once the next chunk has arrived.
  const release = () => current.destroy();
  closed.addEventListener('abort', release, { once: true });
  try {
    for (;;) {
      let failure: StorageError;
      try {
        for await (const chunk of current) {
          const buf = chunk as Buffer;
          delivered += buf.length;
          if (delivered > span.length) {
            throw new PermanentError(
              `${where.key} on target ${where.target} returned more than the ${span.length} bytes it holds`,
              where,
            );
          }
          yield buf;
        }
        if (delivered === span.length) return;
        failure = new TransientError(
          `read of ${where.key} on target ${where.target} ended after ${delivered} of ${span.length} bytes`,
          where,
        );
      } catch (err) {
        if (signal?.aborted || !isRetryable(err)) throw err;
        // Every byte arrived and hashes are the reader's to check: a reset after the last one loses nothing.
        if (delivered === span.length) return;
        failure = err;
      }
      current.destroy();
      current = await resume(delivered, failure);
    }
  } finally {
    closed.removeEventListener('abort', release);
    current.destroy();
  }
}
