import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CutScanner, cutPoint } from './cut-point.ts';
import { GEAR, GEAR_SEED_PREFIX } from './gear-table.ts';
import { type ChunkerParams, DEFAULT_CHUNKER_PARAMS, validateChunkerParams } from './params.ts';

const SMALL: ChunkerParams = { minSize: 1024, avgSize: 4096, maxSize: 16384 };

function pseudoRandom(bytes: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

function allCuts(data: Uint8Array, params: ChunkerParams): number[] {
  const cuts: number[] = [];
  for (let start = 0; start < data.length; ) {
    start = cutPoint(data, start, data.length, params);
    cuts.push(start);
  }
  return cuts;
}

describe('gear table', () => {
  it('is exactly the committed derivation, so boundaries never move between versions', () => {
    const derived = Array.from({ length: 256 }, (_, i) =>
      createHash('sha256').update(`${GEAR_SEED_PREFIX}${i}`).digest().readUInt32BE(0),
    );
    expect(Array.from(GEAR)).toEqual(derived);
  });
});

describe('cut points', () => {
  it('fall where they always have (golden values; a change here breaks dedup with stored chunks)', () => {
    const cuts = allCuts(pseudoRandom(256 * 1024, 'golden'), SMALL);
    expect(cuts.length).toBe(58);
    expect(cuts.slice(0, 12)).toEqual([
      5427, 10295, 16570, 22355, 27696, 30705, 38044, 43553, 48837, 54679, 58239, 63791,
    ]);
    expect(createHash('sha256').update(cuts.slice(0, -1).join(',')).digest('hex')).toBe(
      '5ed6bd0310bea8a5c244687caa6dda2a03ff544c2e96b3e2fcf6f5218cb9dfaa',
    );
  });

  it('keep chunks within [minSize, maxSize] and average near avgSize', () => {
    const data = pseudoRandom(2 * 1024 * 1024, 'bounds');
    const cuts = allCuts(data, SMALL);
    const sizes = cuts.map((cut, i) => cut - (cuts[i - 1] ?? 0));
    for (const size of sizes.slice(0, -1)) {
      expect(size).toBeGreaterThanOrEqual(SMALL.minSize);
      expect(size).toBeLessThanOrEqual(SMALL.maxSize);
    }
    const mean = data.length / sizes.length;
    expect(mean).toBeGreaterThan(SMALL.avgSize * 0.8);
    expect(mean).toBeLessThan(SMALL.avgSize * 1.5);
  });

  it('return the end of input when less than minSize remains', () => {
    const data = pseudoRandom(5000, 'short');
    expect(cutPoint(data, 4000, 5000, SMALL)).toBe(5000);
    expect(() => cutPoint(data, 10, 10, SMALL)).toThrow(RangeError);
  });

  it('are the same when the scanner is fed a byte at a time', () => {
    const data = pseudoRandom(64 * 1024, 'bytewise');
    const scanner = new CutScanner(SMALL);
    const cuts: number[] = [];
    for (let i = 0; i < data.length; i++) {
      const cut = scanner.scan(data, i, i + 1);
      if (cut >= 0) cuts.push(cut);
    }
    if (scanner.pending > 0) cuts.push(data.length);
    expect(cuts).toEqual(allCuts(data, SMALL));
  });

  it('cut all-zero input at maxSize, for the default params too', () => {
    for (const params of [SMALL, DEFAULT_CHUNKER_PARAMS]) {
      const zeros = new Uint8Array(params.maxSize * 2 + 1);
      expect(allCuts(zeros, params)).toEqual([params.maxSize, params.maxSize * 2, zeros.length]);
    }
  });
});

describe('chunker params', () => {
  it.each([
    [{ minSize: 4096, avgSize: 4096, maxSize: 16384 }, /minSize < avgSize < maxSize/],
    [{ minSize: 1024, avgSize: 4096, maxSize: 4096 }, /minSize < avgSize < maxSize/],
    [{ minSize: 1024, avgSize: 5000, maxSize: 16384 }, /power of two/],
    [{ minSize: 1, avgSize: 256, maxSize: 1024 }, /at least 64/],
    [{ minSize: 1024, avgSize: 2 ** 28, maxSize: 2 ** 31 }, /at most/],
    [{ minSize: 1.5, avgSize: 4096, maxSize: 16384 }, /minSize must be a positive integer/],
    [{ minSize: 1024, avgSize: 4096, maxSize: Number.NaN }, /maxSize must be a positive integer/],
  ])('reject %o', (params, message) => {
    expect(() => validateChunkerParams(params)).toThrow(message);
    expect(() => new CutScanner(params)).toThrow(message);
  });

  it('accept the defaults', () => {
    expect(() => validateChunkerParams(DEFAULT_CHUNKER_PARAMS)).not.toThrow();
  });
});
