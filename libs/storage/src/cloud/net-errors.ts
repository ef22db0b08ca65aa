import type { Readable } from 'node:stream';
import { finished, PassThrough } from 'node:stream';

/**
 * Connection-level failure codes, from Node sockets, undici (fetch) and node-fetch. All are worth
 * a retry: the server was unreachable, went away, or was too slow, which says nothing about the
 * request itself.
 */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && name in value
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

/** The first network error code found on the error or its `cause` chain (fetch wraps them). */
export function networkCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    const code = field(current, 'code');
    if (typeof code === 'string' && NETWORK_CODES.has(code.toUpperCase())) return code.toUpperCase();
    const name = field(current, 'name');
    if (name === 'TimeoutError') return 'ETIMEDOUT';
    const message = field(current, 'message');
    if (typeof message === 'string' && /socket hang up|other side closed/i.test(message)) return 'ECONNRESET';
    current = field(current, 'cause');
  }
  return undefined;
}

/** A readable field of an unknown error, as a string when it is one. */
export function stringField(err: unknown, name: string): string | undefined {
  const value = field(err, name);
  return typeof value === 'string' ? value : undefined;
}

/** A numeric field of an unknown error (also numeric strings such as `'404'`). */
export function numberField(err: unknown, name: string): number | undefined {
  const value = field(err, name);
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^\d{3}$/.test(value)) return Number(value);
  return undefined;
}

export { field as errorField };

/**
 * Re-emits a download stream's errors as storage errors, so a reader that fails halfway (a reset
 * connection, a checksum mismatch) raises the same typed errors as a request that fails at once.
 * A source that closes before its end without an error (a dropped connection some HTTP layers
 * report that way) fails the output too, rather than leaving the reader waiting forever.
 */
export function translateStreamErrors(source: Readable, map: (err: unknown) => Error): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  // finished() listens for 'error' for the source's whole life, so no error of it goes unheard.
  finished(source, (err) => {
    if (err) out.destroy(map(err));
  });
  // A consumer that stops early must not leave the download running.
  out.on('close', () => {
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}
