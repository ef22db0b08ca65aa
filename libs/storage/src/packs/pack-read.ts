import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StorageError } from '../errors.ts';
import { blobKey, PACKS_PREFIX, packKey, parsePackKey } from '../layout.ts';
import { listAll } from '../repository.ts';
import type { ReadOnlyTarget } from '../target.ts';
import { PACK_FOOTER_BYTES, type PackEntry, parsePackFooter, parsePackIndex } from './pack-format.ts';

/** Where a blob's bytes sit inside a pack on a target. */
export interface PackPlace {
  pack: string;
  offset: number;
  length: number;
}

/** A large file's blob stored as content-defined chunks: each chunk in a pack, or its own object (null). */
export interface ChunkedPlace {
  chunks: { sha256: string; length: number; place: PackPlace | null }[];
}

/** Where a blob is on a target: in a pack, in chunks, or (no place) its own object. */
export type BlobPlace = PackPlace | ChunkedPlace;

/** The object that holds a blob: its pack, or its own key (a chunked blob is named by its own key). */
export function blobObject(sha256: string, place: BlobPlace | undefined): string {
  return place && 'pack' in place ? packKey(place.pack) : blobKey(sha256);
}

/** A blob's stored bytes: a range of its pack, or its own object. The caller checks its sha256. */
export async function openBlob(
  target: ReadOnlyTarget,
  sha256: string,
  place: BlobPlace | undefined,
  signal?: AbortSignal,
): Promise<Readable> {
  if (!place) return target.get(blobKey(sha256), undefined, signal);
  if ('chunks' in place) return Readable.from(chunkBytes(target, place, signal));
  // An empty range cannot be asked for; an empty blob has nothing that could rot.
  if (place.length === 0) return Readable.from([]);
  const range = { start: place.offset, end: place.offset + place.length - 1 };
  return target.get(packKey(place.pack), range, signal);
}

/** Chunks fetched ahead of the one being read: requests in flight, and at most 4 chunks (16 MiB) held. */
const CHUNKS_AHEAD = 4;

/** A chunked blob's bytes: its chunks in order, the next few fetched while one is read. */
async function* chunkBytes(
  target: ReadOnlyTarget,
  place: ChunkedPlace,
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  // A chunk's pieces as they came, not joined: the reader hashes and writes them as they are.
  const fetch = async (chunk: ChunkedPlace['chunks'][number]) => {
    const pieces: Buffer[] = [];
    for await (const piece of await openBlob(target, chunk.sha256, chunk.place ?? undefined, signal))
      pieces.push(piece as Buffer);
    return pieces;
  };
  const ahead: Promise<Buffer[]>[] = [];
  let next = 0;
  const fill = () => {
    for (let c = place.chunks[next]; c !== undefined && ahead.length < CHUNKS_AHEAD; c = place.chunks[next]) {
      const pending = fetch(c);
      pending.catch(() => {}); // awaited in order below, where a failure is thrown
      ahead.push(pending);
      next++;
    }
  };
  fill();
  for (let pending = ahead.shift(); pending !== undefined; pending = ahead.shift()) {
    const pieces = await pending;
    fill();
    yield* pieces;
  }
}

/**
 * Reads a pack's own index from its end (two range reads), checked as untrusted input. `size`:
 * the pack's size as a listing gave it, which saves a head (a third of a bucket scan's requests).
 */
export async function readPackIndex(
  target: ReadOnlyTarget,
  pack: string,
  size?: number,
): Promise<PackEntry[]> {
  const key = packKey(pack);
  const where = { target: target.name, key };
  size ??= (await target.head(key)).size;
  if (size < PACK_FOOTER_BYTES) return parsePackIndex(Buffer.alloc(0), 0, where);
  const footer = await readRange(target, key, size - PACK_FOOTER_BYTES, PACK_FOOTER_BYTES);
  const length = parsePackFooter(footer, size, where);
  const dataBytes = size - PACK_FOOTER_BYTES - length;
  return parsePackIndex(await readRange(target, key, dataBytes, length), dataBytes, where);
}

async function readRange(
  target: ReadOnlyTarget,
  key: string,
  start: number,
  length: number,
): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of await target.get(key, { start, end: start + length - 1 }))
    chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What reading a pack whole found for one blob: its bytes' sha256 and count (null sha256: cut short). */
export interface BlobRead {
  entry: PackEntry;
  sha256: string | null;
  size: number;
  /** The blob's bytes, when asked for (`keepBytes`). */
  bytes?: Buffer;
}

/**
 * Reads a pack once, start to end, and hashes each wanted blob on the way (restic's check reads
 * packs this way): one request however many blobs, memory of one chunk. Returns the sha256 of
 * the whole pack, which its key must name.
 */
export async function readPackBlobs(
  target: ReadOnlyTarget,
  pack: string,
  wanted: readonly PackEntry[],
  onBlob: (read: BlobRead) => void,
  opts: { signal?: AbortSignal; keepBytes?: boolean } = {},
): Promise<{ sha256: string; size: number }> {
  const entries = [...wanted].sort((a, b) => a.offset - b.offset);
  const whole = createHash('sha256');
  let next = 0;
  let pos = 0;
  let hash: Hash | undefined;
  let got = 0;
  let pieces: Buffer[] = [];
  const finish = (entry: PackEntry, sha256: string | null) => {
    onBlob({ entry, sha256, size: got, ...(opts.keepBytes && { bytes: Buffer.concat(pieces) }) });
    hash = undefined;
    got = 0;
    pieces = [];
    next++;
  };
  for await (const piece of await target.get(packKey(pack), undefined, opts.signal)) {
    const chunk = piece as Buffer;
    whole.update(chunk);
    let at = 0;
    for (let e = entries[next]; e !== undefined; e = entries[next]) {
      const here = pos + at;
      if (here < e.offset) {
        if (e.offset >= pos + chunk.length) break;
        at = e.offset - pos;
        continue;
      }
      const take = Math.min(chunk.length - at, e.offset + e.length - here);
      hash ??= createHash('sha256');
      hash.update(chunk.subarray(at, at + take));
      if (opts.keepBytes) pieces.push(chunk.subarray(at, at + take));
      got += take;
      at += take;
      if (got === e.length) finish(e, hash.digest('hex'));
      else break;
    }
    pos += chunk.length;
  }
  for (let e = entries[next]; e !== undefined; e = entries[next]) finish(e, null);
  return { sha256: whole.digest('hex'), size: pos };
}

/** What indexPacks looks for, and whom it tells about a pack it cannot read. */
export interface IndexPacksOptions {
  /** Index reads in flight. */
  parallel?: number;
  /** Only these blobs are kept, and the scan stops once every one is found. */
  wanted?: ReadonlySet<string>;
  /** A pack whose index is corrupt or that went away meanwhile: it is skipped, and reported here. */
  onUnreadable?: (pack: string, err: StorageError) => void;
}

/**
 * Where blobs are, from the target's packs' own indexes: the bucket-only restore's map, when
 * there is no catalog. A blob in two packs (two writers packed it) keeps the first place found.
 * With `wanted`, the map holds only those blobs: a fleet's bucket holds every host's blobs, and a
 * map of all of them grows with the fleet (10^8 blobs for 1,000 hosts of 100,000 files) where one
 * restore needs its own. A pack whose index cannot be read is skipped: one rotten pack must not
 * stop every restore, only those that need its blobs (which then find them missing). A target
 * that cannot be reached throws.
 */
export async function indexPacks(
  target: ReadOnlyTarget,
  opts: IndexPacksOptions = {},
): Promise<Map<string, PackPlace>> {
  const { parallel = 8, wanted, onUnreadable } = opts;
  const packs: { sha256: string; size: number }[] = [];
  for await (const obj of listAll(target, PACKS_PREFIX)) {
    const sha256 = parsePackKey(obj.key);
    if (sha256 !== undefined) packs.push({ sha256, size: obj.size });
  }
  const places = new Map<string, PackPlace>();
  const allFound = () => wanted !== undefined && places.size === wanted.size;
  const entriesOf = ({ sha256: pack, size }: { sha256: string; size: number }) =>
    readPackIndex(target, pack, size).catch((err: unknown) => {
      if (!(err instanceof StorageError) || err.transient) throw err;
      onUnreadable?.(pack, err);
      return [];
    });
  let next = 0;
  const lane = async () => {
    for (let pack = packs[next++]; pack !== undefined && !allFound(); pack = packs[next++]) {
      for (const e of await entriesOf(pack))
        if (!places.has(e.sha256) && (wanted?.has(e.sha256) ?? true))
          places.set(e.sha256, { pack: pack.sha256, offset: e.offset, length: e.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, packs.length) }, lane));
  return places;
}
