/** Size limits of content-defined chunks, in bytes. */
export interface ChunkerParams {
  /** No cut is made before this many bytes (except the last chunk of a stream). */
  minSize: number;
  /** Target average; a power of two, since it selects how many hash bits must be zero. */
  avgSize: number;
  /** A chunk is cut here when no content-defined boundary came first. */
  maxSize: number;
}

/**
 * Defaults for offsite storage. O3b (`npm run bench:offsite`: a SQLite database that gets 1% new
 * rows and rewrites 0.1% of its rows a day, 5 dailies of 16 MiB) stored 84 MB at a 1 MiB average,
 * 83 MB at 256 KiB, 68 MB at 128 KiB and 45 MB at 64 KiB, against restic's 80 MB: scattered page
 * writes touch most 1 MiB chunks, so every daily was nearly a full copy. 128 KiB is the middle:
 * well under restic, with half the chunk rows of 64 KiB (8 a MiB, where 1 MiB had 1). Chunks go
 * into packs, so they cost no requests, and neither O2's backup nor O4's restore of 256 MiB moved
 * outside the machine's noise (once lookups were batched per window and writes coalesced).
 * The maximum is PACK_BLOB_MAX_KB's default: no chunk is larger than a small file that is packed.
 */
export const DEFAULT_CHUNKER_PARAMS: Readonly<ChunkerParams> = Object.freeze({
  minSize: 32 * 1024,
  avgSize: 128 * 1024,
  maxSize: 512 * 1024,
});

// Normalized chunking (FastCDC level 2) needs log2(avg) + 2 mask bits out of the 32-bit hash.
const MIN_AVG_BITS = 8;
const MAX_AVG_BITS = 28;
const MIN_MIN_SIZE = 64;
// Chunks are held whole in memory; beyond 1 GiB that is a mistake, not a tuning choice.
const MAX_MAX_SIZE = 1024 * 1024 * 1024;

/** Throws an Error naming the offending field unless `params` describe a usable chunker. */
export function validateChunkerParams(params: ChunkerParams): void {
  const { minSize, avgSize, maxSize } = params;
  const describe = `chunker params {minSize: ${minSize}, avgSize: ${avgSize}, maxSize: ${maxSize}}`;
  for (const [name, value] of Object.entries(params)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`invalid ${describe}: ${name} must be a positive integer`);
    }
  }
  const bits = Math.log2(avgSize);
  if (!Number.isInteger(bits) || bits < MIN_AVG_BITS || bits > MAX_AVG_BITS) {
    throw new Error(
      `invalid ${describe}: avgSize must be a power of two from 2^${MIN_AVG_BITS} to 2^${MAX_AVG_BITS}`,
    );
  }
  if (!(minSize < avgSize && avgSize < maxSize)) {
    throw new Error(`invalid ${describe}: need minSize < avgSize < maxSize`);
  }
  if (minSize < MIN_MIN_SIZE)
    throw new Error(`invalid ${describe}: minSize must be at least ${MIN_MIN_SIZE}`);
  if (maxSize > MAX_MAX_SIZE) throw new Error(`invalid ${describe}: maxSize must be at most ${MAX_MAX_SIZE}`);
}

/**
 * The two FastCDC masks for `avgSize` = 2^bits: a stricter one (bits + 2 ones) before the average
 * size and a looser one (bits - 2 ones) after it, which pulls chunk sizes towards the average.
 * The ones sit in the top bits because with a left-shifting Gear hash bit k depends on the last
 * k + 1 bytes only; the top bits see the widest window (32 bytes).
 */
export function chunkerMasks(avgSize: number): { strict: number; loose: number } {
  const bits = Math.log2(avgSize);
  return { strict: topBits(bits + 2), loose: topBits(bits - 2) };
}

function topBits(n: number): number {
  return (0xffffffff << (32 - n)) | 0;
}
