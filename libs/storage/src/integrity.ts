import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through while hashing them, and fails the stream at its end when the
 * sha256 or size differs from what was promised. Because the error fires before the
 * final chunk is flushed downstream, an adapter piping through it never completes the
 * write (no rename, no CompleteMultipartUpload, no final resumable PUT).
 */
export class Sha256Verifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer | undefined;
  private readonly expected: string;
  private readonly onMismatch: (actual: string) => Error;
  private readonly expectedSize: number | undefined;
  bytes = 0;
  digest: string | undefined;

  // Fields are declared explicitly: parameter properties are not erasable syntax.
  constructor(expected: string, onMismatch: (actual: string) => Error, expectedSize?: number) {
    super({ highWaterMark: 1 << 20 });
    this.expected = expected;
    this.onMismatch = onMismatch;
    this.expectedSize = expectedSize;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    // Hold back the newest chunk so the last bytes only leave once the hash is known good.
    const previous = this.pending;
    this.pending = chunk;
    done(null, previous);
  }

  override _flush(done: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    if (
      this.digest !== this.expected ||
      (this.expectedSize !== undefined && this.bytes !== this.expectedSize)
    ) {
      done(this.onMismatch(this.digest));
      return;
    }
    done(null, this.pending);
  }
}

/** sha256 (lowercase hex) and size of a stream, read once. */
export async function hashStream(stream: NodeJS.ReadableStream): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { sha256: hash.digest('hex'), size };
}

export const SHA256_HEX = /^[0-9a-f]{64}$/;
