import { createHash, type Hash } from 'node:crypto';
import { packKey } from '../layout.ts';
import { created, existingObject } from '../repository.ts';
import type { StorageTarget } from '../target.ts';
import { EMPTY_PACK_TRAILER_BYTES, type PackEntry, packEntryBytes, writePackTrailer } from './pack-format.ts';

/** A finished pack: all its bytes in one Buffer (sent as it is, never copied), sha256, size and index. */
export interface BuiltPack {
  sha256: string;
  size: number;
  bytes: Buffer;
  entries: PackEntry[];
}

/** Room kept for the index entry of the next blob: its JSON is about 120 bytes with large offsets. */
const NEXT_ENTRY_BYTES = 160;
/**
 * A target up to this is allocated whole at the first blob. A builder with a larger one (gc's
 * repack, which takes every live blob of a pack, often a few) starts at 1 MiB and grows.
 */
const MAX_PREALLOCATED = 64 << 20;
const UNBOUNDED_START = 1 << 20;

/**
 * Collects blobs into one pack in memory, up to `targetBytes` in all (index included): the caller
 * adds blobs while they `fit` and then takes the pack. The blobs are copied into one Buffer as
 * they come, with room for the index kept at its end, so the finished pack is one contiguous
 * Buffer: a put sends (or an S3 upload slices) it without joining parts. Memory is one Buffer of
 * `targetBytes` a pack, allocated at the first blob; the blobs' own Buffers can go at once, where
 * thousands of small ones kept for a pack's lifetime fragmented the malloc heap.
 */
export class PackBuilder {
  private readonly targetBytes: number;
  private buffer: Buffer | null = null;
  /** A stored pack's Buffer given back (recycle), for the next pack to fill. */
  private spare: Buffer | null = null;
  private entries: PackEntry[] = [];
  private readonly held = new Set<string>();
  private hash: Hash = createHash('sha256');
  private bytes = 0;
  private trailerBytes = EMPTY_PACK_TRAILER_BYTES;

  constructor(targetBytes: number) {
    this.targetBytes = targetBytes;
  }

  /** Whether this pack holds a blob already. */
  has(sha256: string): boolean {
    return this.held.has(sha256);
  }

  /**
   * Whether a blob of `length` bytes fits in this pack without the pack growing past its target.
   * An empty pack takes any blob: a blob larger than the target gets a pack of its own.
   */
  fits(length: number): boolean {
    return (
      this.entries.length === 0 ||
      this.bytes + length + this.trailerBytes + NEXT_ENTRY_BYTES <= this.targetBytes
    );
  }

  /**
   * Copies one blob's bytes in, whose sha256 the caller has checked; false when this pack holds it
   * already. A blob that does not `fit` is taken all the same: the pack grows past its target.
   */
  add(sha256: string, bytes: Buffer): boolean {
    if (this.held.has(sha256)) return false;
    const entry = { sha256, offset: this.bytes, length: bytes.length };
    const trailerBytes = this.trailerBytes + packEntryBytes(entry, this.entries.length === 0);
    const buffer = this.room(this.bytes + bytes.length + trailerBytes);
    this.held.add(sha256);
    this.entries.push(entry);
    bytes.copy(buffer, this.bytes);
    this.hash.update(bytes);
    this.bytes += bytes.length;
    this.trailerBytes = trailerBytes;
    return true;
  }

  get count(): number {
    return this.entries.length;
  }

  /** Bytes of the blobs gathered so far. */
  get size(): number {
    return this.bytes;
  }

  /** Whether not even an empty blob fits any more. */
  get full(): boolean {
    return !this.fits(0);
  }

  /** Ends the pack with its index, and starts an empty one. */
  take(): BuiltPack {
    const buffer = this.room(this.bytes + this.trailerBytes);
    const trailer = writePackTrailer(this.entries, buffer, this.bytes);
    const size = this.bytes + trailer;
    const bytes = buffer.subarray(0, size);
    this.hash.update(bytes.subarray(this.bytes));
    const pack = { sha256: this.hash.digest('hex'), size, bytes, entries: this.entries };
    this.buffer = null;
    this.entries = [];
    this.held.clear();
    this.hash = createHash('sha256');
    this.bytes = 0;
    this.trailerBytes = EMPTY_PACK_TRAILER_BYTES;
    return pack;
  }

  /**
   * Gives the Buffer of a pack taken from this builder back, once it is stored and nothing reads
   * it any more, for the next pack to be filled in. A stream of packs then reuses the same two
   * Buffers (one uploading, one filling): left to the garbage collector, dead pack Buffers
   * piled up until a full collection, and glibc, its mmap threshold raised by the first one freed,
   * placed the next ones in the heap, which it did not give back.
   */
  recycle(pack: BuiltPack): void {
    // Pack Buffers are allocated unpooled (room), so the ArrayBuffer is the pack's alone.
    const whole = Buffer.from(pack.bytes.buffer);
    if (this.spare && this.spare.length >= whole.length) {
      release(whole);
      return;
    }
    if (this.spare) release(this.spare);
    this.spare = whole;
  }

  /**
   * Frees the spare Buffer now rather than at the garbage collector's next full collection: a
   * replicate's last pack is stored before its manifest is built, and the two would add up.
   */
  releaseSpare(): void {
    if (this.spare) release(this.spare);
    this.spare = null;
  }

  /**
   * The Buffer, with room for `needed` bytes. The first is the target's size, so a pack filled up
   * to its target is never copied; only a pack taking a blob past it (or one with a target beyond
   * MAX_PREALLOCATED) grows, by half again at least.
   */
  private room(needed: number): Buffer {
    const current = this.buffer;
    if (current && current.length >= needed) return current;
    if (!current && this.spare && this.spare.length >= needed) {
      this.buffer = this.spare;
      this.spare = null;
      return this.buffer;
    }
    const size = current
      ? Math.max(needed, Math.floor(current.length * 1.5))
      : Math.max(needed, this.targetBytes <= MAX_PREALLOCATED ? this.targetBytes : UNBOUNDED_START);
    // Unpooled: a small pack must not share an ArrayBuffer with other Buffers, or recycle would
    // hand theirs out to be overwritten.
    const grown = Buffer.allocUnsafeSlow(size);
    current?.copy(grown, 0, 0, this.bytes);
    this.buffer = grown;
    return grown;
  }
}

/** Uploads a finished pack unless the target holds it already (same sha256, so the same bytes). */
export async function putPack(target: StorageTarget, pack: BuiltPack, signal?: AbortSignal): Promise<void> {
  const key = packKey(pack.sha256);
  const existing = await existingObject(target, key);
  if (existing?.size === pack.size) return;
  await created(
    target.put(key, pack.bytes, { sha256: pack.sha256, size: pack.size, ...(signal && { signal }) }),
  );
}

/**
 * Frees a recycled pack Buffer's memory at once, by detaching its ArrayBuffer (every view of it
 * reads as empty from then on). Only for a Buffer nothing reads any more.
 */
function release(buffer: Buffer): void {
  if (buffer.buffer instanceof ArrayBuffer) buffer.buffer.transfer(0);
}
