/**
 * Read buffers reused from file to file. A fresh 1 MiB Buffer per file (what a read stream
 * allocates) costs an allocation and, worse, garbage the collector must find: at 20,000 small
 * files that was most of the capture's CPU. Buffers come in two sizes: small files take one read
 * into a small buffer, larger ones stream through 1 MiB chunks. At most `keep` free buffers of
 * each size are kept, so memory stays bounded by what is in flight plus that.
 */
export const SMALL_READ = 64 * 1024;
export const LARGE_READ = 1024 * 1024;

class Pool {
  /** Taken and not yet given back. */
  out = 0;
  private readonly free: Buffer[] = [];
  private readonly size: number;
  private readonly keep: number;
  constructor(size: number, keep: number) {
    this.size = size;
    this.keep = keep;
  }
  take(): Buffer {
    this.out++;
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }
  give(buf: Buffer): void {
    this.out--;
    if (buf.length === this.size && this.free.length < this.keep) this.free.push(buf);
  }
}

const small = new Pool(SMALL_READ, 64);
const large = new Pool(LARGE_READ, 8);

/** A buffer to read a file of `size` bytes through: the whole file when small, else 1 MiB chunks. */
export function takeReadBuffer(size: number): Buffer {
  return size <= SMALL_READ ? small.take() : large.take();
}

/** Second buffers for reading ahead, at most this many at once, so many large files in flight cannot double the memory. */
const AHEAD_LIMIT = 8;
let ahead = 0;

/**
 * A second 1 MiB buffer to read the next chunk of a large file into while the current one is
 * hashed and written, or null when AHEAD_LIMIT are out already (that file then reads one chunk at
 * a time, as before). Given back with giveAheadBuffer.
 */
export function takeAheadBuffer(): Buffer | null {
  if (ahead >= AHEAD_LIMIT) return null;
  ahead++;
  return large.take();
}

export function giveAheadBuffer(buf: Buffer): void {
  ahead--;
  large.give(buf);
}

/** Hands a buffer from takeReadBuffer back once nothing refers to its bytes any more. */
export function giveReadBuffer(buf: Buffer): void {
  (buf.length === SMALL_READ ? small : large).give(buf);
}

/** Buffers taken and not given back, by kind: zero between captures (tests check that nothing leaks). */
export function buffersOut(): { small: number; large: number; ahead: number } {
  return { small: small.out, large: large.out - ahead, ahead };
}
