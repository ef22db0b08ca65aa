/**
 * FastCDC cut-point search (Xia et al., USENIX ATC 2016 and TPDS 2020): a Gear rolling hash,
 * no hashing below minSize, and normalized chunking with two masks.
 *
 * Why our own code and not a library (checked on npm, Node 24, this machine's 2 cores):
 * - rabin-wasm (AssemblyScript Rabin): ~64 MB/s, whole-buffer API; far too slow.
 * - @dstanesc/wasm-chunking-fastcdc-node (Rust fastcdc in wasm): ~760 MB/s, half of sha256;
 *   whole-buffer only (it returns offsets and treats the buffer end as end of input, so no
 *   streaming), a single release and no upkeep.
 * - `fastcdc` does not exist on npm; rabin, rabin-native and rabin-bindings build native code.
 * This scan loop runs at ~1.2 GB/s here against ~1.5 GB/s for Node's sha256 (through chunkStream,
 * which copies each chunk into a Buffer of its own, ~0.8 GB/s; `npm run bench:chunking`). It is ~60
 * lines, and we own the one thing that must never change: where boundaries fall (gear-table.ts).
 *
 * The 32-bit hash is wrapped with `| 0` (int32); `>>> 0` (uint32) measured the same and gives the
 * same bits, and the masks only test bits, so the sign never matters. Unrolling the loop, an
 * Int32Array view of the table and extra bounds in the loop condition were no faster or slower.
 */
import { GEAR } from './gear-table.ts';
import { type ChunkerParams, chunkerMasks, validateChunkerParams } from './params.ts';

/**
 * Finds chunk boundaries in data that arrives in pieces. It keeps the position inside the current
 * chunk and the rolling hash between calls, so where a boundary falls does not depend on how the
 * input was split, and every byte is hashed at most once.
 */
export class CutScanner {
  readonly #min: number;
  readonly #avg: number;
  readonly #max: number;
  readonly #strict: number;
  readonly #loose: number;
  /** Bytes of the current chunk already consumed by earlier calls. */
  #offset = 0;
  #hash = 0;

  constructor(params: ChunkerParams) {
    validateChunkerParams(params);
    this.#min = params.minSize;
    this.#avg = params.avgSize;
    this.#max = params.maxSize;
    const masks = chunkerMasks(params.avgSize);
    this.#strict = masks.strict;
    this.#loose = masks.loose;
  }

  /**
   * Consumes `data[from, end)` as the continuation of the current chunk. Returns the index just
   * past the chunk's last byte if the chunk ends inside that range (the next chunk then starts
   * there, and scanning resumes with `scan(data, cut, end)`), or -1 if all of it was consumed.
   */
  scan(data: Uint8Array, from: number, end: number): number {
    // Where the current chunk started, in data's coordinates; negative when it began earlier.
    const base = from - this.#offset;
    const gear = GEAR;
    let h = this.#hash;
    let i = Math.max(from, base + this.#min);

    const strict = this.#strict;
    const stopStrict = Math.min(base + this.#avg, end);
    for (; i < stopStrict; i++) {
      h = ((h << 1) + gear[data[i]!]!) | 0;
      if ((h & strict) === 0) return this.#cut(i + 1);
    }

    const loose = this.#loose;
    const stopLoose = Math.min(base + this.#max, end);
    for (; i < stopLoose; i++) {
      h = ((h << 1) + gear[data[i]!]!) | 0;
      if ((h & loose) === 0) return this.#cut(i + 1);
    }

    if (i === base + this.#max) return this.#cut(i);
    this.#offset = end - base;
    this.#hash = h;
    return -1;
  }

  /** Bytes of the current, unfinished chunk consumed so far. */
  get pending(): number {
    return this.#offset;
  }

  #cut(at: number): number {
    this.#offset = 0;
    this.#hash = 0;
    return at;
  }
}

/**
 * The end of the chunk that starts at `start`, treating `end` as the end of the input: the index
 * just past its last byte, in (start, end]. For whole buffers; streams use {@link CutScanner}.
 */
export function cutPoint(data: Uint8Array, start: number, end: number, params: ChunkerParams): number {
  if (!(0 <= start && start < end && end <= data.length)) {
    throw new RangeError(`cutPoint: need 0 <= start (${start}) < end (${end}) <= length (${data.length})`);
  }
  const cut = new CutScanner(params).scan(data, start, end);
  return cut < 0 ? end : cut;
}
