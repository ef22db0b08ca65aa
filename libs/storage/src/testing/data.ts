import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const MiB = 1 << 20;
const CHUNK = MiB;

/** Lowercase hex sha256 of a buffer. */
export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A byte stream (not object mode) of one buffer, as a put body. */
export function bufferBody(bytes: Buffer): Readable {
  return Readable.from([bytes], { objectMode: false });
}

/** Reads a stream to the end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/**
 * The `index`-th 1 MiB chunk of the pattern for `seed`. Chunks are independent (xorshift32
 * seeded per chunk), so any byte range can be regenerated without producing what precedes it.
 */
function patternChunk(seed: number, index: number): Buffer {
  const words = new Uint32Array(CHUNK / 4);
  // A zero state would make xorshift emit zeros forever; the `| 1` keeps it nonzero.
  let x = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) | 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer);
}

/** A deterministic pseudo-random stream of `size` bytes, produced 1 MiB at a time (never held whole). */
export function patternStream(size: number, seed: number): Readable {
  let offset = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (offset >= size) {
        this.push(null);
        return;
      }
      const index = offset / CHUNK;
      const length = Math.min(CHUNK, size - offset);
      offset += length;
      this.push(patternChunk(seed, index).subarray(0, length));
    },
  });
}

/** Bytes [start, start + length) of patternStream(·, seed), regenerated from the chunks that hold them. */
export function patternSlice(seed: number, start: number, length: number): Buffer {
  const parts: Buffer[] = [];
  const end = start + length;
  for (let index = Math.floor(start / CHUNK); index * CHUNK < end; index++) {
    const chunkStart = index * CHUNK;
    const chunk = patternChunk(seed, index);
    parts.push(chunk.subarray(Math.max(0, start - chunkStart), Math.min(CHUNK, end - chunkStart)));
  }
  return Buffer.concat(parts);
}

/** A pattern object of `size` bytes, small enough to hold in memory. */
export function patternBytes(size: number, seed: number): Buffer {
  return patternSlice(seed, 0, size);
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
