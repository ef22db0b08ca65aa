import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { NotFoundError } from '../errors.ts';
import { packKey } from '../layout.ts';
import type { StorageTarget } from '../target.ts';
import { type PackEntry, packTrailer } from './pack-format.ts';

/** A finished pack: its parts in order (sent as they are, never joined), sha256, size and index. */
export interface BuiltPack {
  sha256: string;
  size: number;
  parts: Buffer[];
  entries: PackEntry[];
}

/**
 * Collects blobs into one pack in memory, up to about `targetBytes`: the caller adds blobs while
 * `full` is false and then takes the pack. Memory is one pack's bytes; the parts are kept as they
 * came, so finishing copies nothing.
 */
export class PackBuilder {
  private readonly targetBytes: number;
  private parts: Buffer[] = [];
  private entries: PackEntry[] = [];
  private readonly held = new Set<string>();
  private hash: Hash = createHash('sha256');
  private bytes = 0;

  constructor(targetBytes: number) {
    this.targetBytes = targetBytes;
  }

  /** Adds one blob's bytes, whose sha256 the caller has checked; false when this pack holds it already. */
  add(sha256: string, bytes: Buffer): boolean {
    if (this.held.has(sha256)) return false;
    this.held.add(sha256);
    this.entries.push({ sha256, offset: this.bytes, length: bytes.length });
    this.parts.push(bytes);
    this.hash.update(bytes);
    this.bytes += bytes.length;
    return true;
  }

  get count(): number {
    return this.entries.length;
  }

  /** Bytes of the blobs gathered so far. */
  get size(): number {
    return this.bytes;
  }

  get full(): boolean {
    return this.bytes >= this.targetBytes;
  }

  /** Ends the pack with its index, and starts an empty one. */
  take(): BuiltPack {
    const trailer = packTrailer(this.entries);
    this.hash.update(trailer);
    const pack = {
      sha256: this.hash.digest('hex'),
      size: this.bytes + trailer.length,
      parts: [...this.parts, trailer],
      entries: this.entries,
    };
    this.parts = [];
    this.entries = [];
    this.held.clear();
    this.hash = createHash('sha256');
    this.bytes = 0;
    return pack;
  }
}

/** Uploads a finished pack unless the target holds it already (same sha256, so the same bytes). */
export async function putPack(target: StorageTarget, pack: BuiltPack, signal?: AbortSignal): Promise<void> {
  const key = packKey(pack.sha256);
  const existing = await target.head(key).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  if (existing?.size === pack.size) return;
  await target.put(key, () => Readable.from(pack.parts), {
    sha256: pack.sha256,
    size: pack.size,
    ...(signal && { signal }),
  });
}
