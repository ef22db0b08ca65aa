import { Readable } from 'node:stream';
import type { PutBody } from './target.ts';

/** The stream a put reads: the body itself, what its factory opens, or its bytes as one chunk. */
export function openBody(body: PutBody): Readable {
  if (typeof body === 'function') return body();
  if (Buffer.isBuffer(body)) return Readable.from([body], { objectMode: false });
  return body;
}

/** Whether a put of this body can be tried again: a factory or bytes, not a stream read once. */
export function reopenable(body: PutBody): body is Buffer | (() => Readable) {
  return typeof body === 'function' || Buffer.isBuffer(body);
}

/** Releases a body a put will not read (a stream is destroyed; a factory or bytes hold nothing open). */
export function discardBody(body: PutBody): void {
  if (!reopenable(body)) body.destroy();
}

/**
 * Runs one put attempt on the body's stream, and destroys that stream when the attempt fails, so
 * a put that fails before (or while) reading leaves no file handle or socket open behind it.
 */
export async function usingBody<T>(body: PutBody, attempt: (stream: Readable) => Promise<T>): Promise<T> {
  const stream = openBody(body);
  try {
    return await attempt(stream);
  } catch (err) {
    if (!stream.destroyed) stream.destroy();
    throw err;
  }
}
