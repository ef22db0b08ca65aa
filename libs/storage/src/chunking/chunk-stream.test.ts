import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chunkStream, cutAt } from './chunk-stream.ts';
import { type ChunkerParams, DEFAULT_CHUNKER_PARAMS } from './params.ts';

const SMALL: ChunkerParams = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

function pseudoRandom(bytes: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

/** Small deterministic PRNG (mulberry32) for split points, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

async function* inPieces(data: Uint8Array, sizes: () => number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; ) {
    const end = Math.min(data.length, at + sizes());
    yield data.subarray(at, end);
    at = end;
  }
}

async function chunksOf(source: AsyncIterable<Uint8Array>, params?: ChunkerParams): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of chunkStream(source, params)) chunks.push(chunk);
  return chunks;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('chunkStream', () => {
  it('yields nothing for empty input', async () => {
    expect(await chunksOf(inPieces(new Uint8Array(0), () => 1))).toEqual([]);
    expect(await chunksOf(Readable.from([Buffer.alloc(0), Buffer.alloc(0)]))).toEqual([]);
  });

  it('yields chunks that concatenate to the input, within the size bounds', async () => {
    const data = pseudoRandom(1024 * 1024 + 123, 'concat');
    const chunks = await chunksOf(
      inPieces(data, () => 65536),
      SMALL,
    );
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    for (const chunk of chunks.slice(0, -1)) {
      expect(chunk.length).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(chunk.length).toBeLessThanOrEqual(SMALL.maxSize);
    }
    expect(chunks.at(-1)!.length).toBeLessThanOrEqual(SMALL.maxSize);
  });

  it('is deterministic: the same input gives the same chunks', async () => {
    const data = pseudoRandom(512 * 1024, 'determinism');
    const first = (
      await chunksOf(
        inPieces(data, () => 10_000),
        SMALL,
      )
    ).map(sha256);
    const second = (
      await chunksOf(
        inPieces(data, () => 10_000),
        SMALL,
      )
    ).map(sha256);
    expect(second).toEqual(first);
    expect(first.length).toBeGreaterThan(50);
  });

  it('cuts at the same places however the input is split', async () => {
    const data = pseudoRandom(300 * 1024, 'splitting');
    const whole = (
      await chunksOf(
        inPieces(data, () => data.length),
        SMALL,
      )
    ).map(sha256);
    const random = prng(42);
    const splits: Record<string, () => number> = {
      bytes: () => 1,
      mixed: () => (random() < 0.3 ? 1 : Math.floor(random() * 5000)),
      around: () => [1, 1023, 1024, 1025, 4095, 4096, 16383, 16384, 16385][Math.floor(random() * 9)]!,
    };
    for (const [name, sizes] of Object.entries(splits)) {
      const pieces = (await chunksOf(inPieces(data, sizes), SMALL)).map(sha256);
      expect(pieces, name).toEqual(whole);
    }
  });

  it('cuts all-zero input at maxSize', async () => {
    const zeros = Buffer.alloc(3 * SMALL.maxSize + 100);
    const sizes = (
      await chunksOf(
        inPieces(zeros, () => 7000),
        SMALL,
      )
    ).map((c) => c.length);
    expect(sizes).toEqual([SMALL.maxSize, SMALL.maxSize, SMALL.maxSize, 100]);
  });

  it('keeps most chunks when a few bytes are inserted or deleted near the start', async () => {
    const original = pseudoRandom(32 * 1024 * 1024, 'edits');
    const chunked = async (data: Buffer) =>
      (
        await chunksOf(
          inPieces(data, () => 65536),
          DEFAULT_CHUNKER_PARAMS,
        )
      ).map(sha256);
    const before = await chunked(original);
    const edits = {
      inserted: Buffer.concat([original.subarray(0, 1000), Buffer.from('hello'), original.subarray(1000)]),
      deleted: Buffer.concat([original.subarray(0, 300_000), original.subarray(300_007)]),
    };
    for (const [name, edited] of Object.entries(edits)) {
      const after = await chunked(edited);
      const known = new Set(before);
      const shared = after.filter((h) => known.has(h)).length;
      expect(shared / after.length, name).toBeGreaterThanOrEqual(0.8);
    }
    expect(before.length).toBeGreaterThan(16);
  });

  it('rejects a source that yields strings', async () => {
    const strings = Readable.from(['not bytes']) as AsyncIterable<Uint8Array>;
    await expect(chunksOf(strings)).rejects.toThrow(/expected Buffer or Uint8Array/);
  });
});

describe('cutAt', () => {
  const collect = async (source: Buffer[], sizes: number[]) => {
    const out: Buffer[] = [];
    for await (const piece of cutAt(Readable.from(source), sizes)) out.push(piece as Buffer);
    return out;
  };
  const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
  // The same bytes arriving in uneven reads, as a file stream's would.
  const reads = [bytes.subarray(0, 7), bytes.subarray(7, 60), bytes.subarray(60, 61), bytes.subarray(61)];

  it('cuts where the sizes say, across reads', async () => {
    const out = await collect(reads, [10, 45, 5, 40]);
    expect(out.map((p) => p.length)).toEqual([10, 45, 5, 40]);
    expect(Buffer.concat(out)).toEqual(bytes);
  });

  it('gives bytes past the sizes as one more piece, and a short last piece when the source ends early', async () => {
    expect((await collect(reads, [10, 45])).map((p) => p.length)).toEqual([10, 45, 45]);
    expect((await collect(reads, [60, 50])).map((p) => p.length)).toEqual([60, 40]);
  });
});
