import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import type { BlobIndex, PackedPlace } from '@fleet-backup/db';
import {
  type BuiltPack,
  blobKey,
  hasBlob,
  IntegrityError,
  NotFoundError,
  PackBuilder,
  packKey,
  putPack,
  type StorageTarget,
} from '@fleet-backup/storage';
import { readUpToSync } from '../fs/hash-file.ts';

/** Packs being uploaded at once: with the one filling, memory is two packs' Buffers (16 MiB by default). */
const PACKS_IN_FLIGHT = 1;

/**
 * Gathers a replicate's small blobs into packs and uploads each when it is full (and the last at
 * `flush`). A blob's place is recorded only after its pack is stored, so Postgres never points at
 * a pack that is not there; a pack stored but not recorded (a crash between) is garbage for gc.
 * Memory: while a full pack waits for its turn to upload, no lane adds to the next one, so the
 * bytes held stay one pack uploading and one full or filling, however many lanes add; and a stored
 * pack's Buffer is filled again by the next, so a replicate allocates two pack Buffers in all.
 */
export class Packer {
  private readonly target: StorageTarget;
  private readonly index: BlobIndex;
  private readonly builder: PackBuilder;
  private readonly signal: AbortSignal | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  /** A full pack's wait for an upload slot; adds wait for it too. */
  private waiting: Promise<void> | null = null;
  /** Bytes of the packs taken and not yet stored. */
  private taken = 0;
  packs = 0;

  constructor(target: StorageTarget, index: BlobIndex, targetBytes: number, signal?: AbortSignal) {
    this.target = target;
    this.index = index;
    this.builder = new PackBuilder(targetBytes);
    this.signal = signal;
  }

  /** Bytes held now: the packs taken and not yet stored, and the one filling. */
  get heldBytes(): number {
    return this.taken + this.builder.size;
  }

  /**
   * Adds a blob (its sha256 checked by the caller); waits while a full pack cannot be sent yet.
   * False when the pack being filled holds the blob already (a chunk seen twice in a file).
   */
  async add(sha256: string, bytes: Buffer): Promise<boolean> {
    for (;;) {
      while (this.waiting) await this.waiting;
      if (this.builder.has(sha256)) return false;
      if (this.builder.fits(bytes.length)) break;
      // The pack is sent before this blob goes in, so a pack never outgrows the Buffer it was given.
      await this.send(this.builder.take());
    }
    this.builder.add(sha256, bytes);
    if (this.builder.full) await this.send(this.builder.take());
    return true;
  }

  /** Sends the pack being filled, and waits for every upload. */
  async flush(): Promise<void> {
    while (this.waiting) await this.waiting;
    if (this.builder.count > 0) await this.send(this.builder.take());
    await Promise.all(this.inFlight);
    this.builder.releaseSpare();
  }

  private async send(pack: BuiltPack): Promise<void> {
    this.taken += pack.size;
    const turn = (async () => {
      while (this.inFlight.size >= PACKS_IN_FLIGHT) await Promise.race(this.inFlight).catch(() => {});
    })();
    this.waiting = turn;
    await turn;
    if (this.waiting === turn) this.waiting = null;
    const upload = (async () => {
      await putPack(this.target, pack, this.signal);
      await this.index.recordPack(this.target.name, pack);
      this.packs++;
      // Stored: the put has read its bytes for the last time (a failed one is never reused), so
      // the next pack fills the same Buffer, before the waiting pack's turn lets lanes add again.
      this.builder.recycle(pack);
    })().finally(() => {
      this.inFlight.delete(upload);
      this.taken -= pack.size;
    });
    this.inFlight.add(upload);
    await upload;
  }
}

/**
 * Whether the target still holds a blob Postgres says it holds: a head of its own object, or of
 * its pack (once per pack per replicate). A pack found gone is forgotten, blobs and all, so they
 * are uploaded again.
 */
export class Presence {
  private readonly target: StorageTarget;
  private readonly index: BlobIndex;
  private readonly packs = new Map<string, Promise<boolean>>();

  constructor(target: StorageTarget, index: BlobIndex) {
    this.target = target;
    this.index = index;
  }

  async holds(blob: { sha256: string; size: number }, place: PackedPlace | null): Promise<boolean> {
    // An agent's create-only credential cannot ask: Postgres is trusted, and the pool's verify of
    // this backup confirms every object it references is there (a head each) before it counts.
    if (this.target.writeOnly) return true;
    if (place === null) {
      if (await hasBlob(this.target, blob.sha256, blob.size)) return true;
      // Postgres and the bucket disagree (a restored bucket, a manual delete): trust the bucket.
      await this.index.forget(this.target.name, blob.sha256);
      return false;
    }
    let pack = this.packs.get(place.pack);
    if (!pack) {
      pack = this.packThere(place.pack);
      this.packs.set(place.pack, pack);
    }
    return pack;
  }

  private async packThere(pack: string): Promise<boolean> {
    try {
      await this.target.head(packKey(pack));
      return true;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      await this.index.forgetPack(this.target.name, pack);
      return false;
    }
  }
}

/**
 * A small stored copy's bytes, read whole and checked against its sha256 and size before they are
 * packed. Read synchronously, as hashSmallFileSync does: for a few KiB in the page cache, three
 * hops to the thread pool (open, read, close) cost more than the reads, and a first replicate
 * makes tens of thousands of them.
 */
export function readSmallStored(
  dir: string,
  file: { storedPath: string; sha256: string; size: number },
  target: string,
): Buffer {
  const fd = openSync(path.join(dir, file.storedPath), 'r');
  let bytes: Buffer;
  try {
    // One byte more than expected: a copy that grew is caught without a stat.
    const buf = Buffer.allocUnsafe(file.size + 1);
    bytes = buf.subarray(0, readUpToSync(fd, buf, buf.length));
  } finally {
    closeSync(fd);
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== file.sha256 || bytes.length !== file.size)
    throw new IntegrityError(target, blobKey(file.sha256), file.sha256, actual);
  return bytes;
}
