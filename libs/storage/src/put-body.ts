import type { Readable } from 'node:stream';
import type { PutBody } from './target.ts';

/** The stream a put reads: the body itself, or what its factory opens. */
export function openBody(body: PutBody): Readable {
  return typeof body === 'function' ? body() : body;
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
