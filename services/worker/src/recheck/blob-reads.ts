import { forEachLimited } from '@fleet-backup/core';
import type { StoredBlob } from '@fleet-backup/db';
import {
  type BlobPlace,
  blobObject,
  NotFoundError,
  type PackEntry,
  type ReadOnlyTarget,
  readPackBlobs,
  StorageError,
} from '@fleet-backup/storage';
import { bytesProblem, checkBlob, PACK_GONE } from './blob-read.ts';

/** From this many wanted blobs on, a pack is read whole, once, instead of a range per blob. */
const WHOLE_PACK_FROM = 8;

/** A blob to read back, and where it is (undefined: its own object). */
export interface BlobToRead {
  blob: StoredBlob;
  place: BlobPlace | undefined;
}

/** The places blobs have now (absent: the target is not known to hold it any more). */
export type PlacesNow = (sha256s: string[]) => Promise<Map<string, BlobPlace | null>>;

type Found = (blob: StoredBlob, problem: string | null) => Promise<void> | void;

export interface ReadOptions {
  signal?: AbortSignal;
  placesNow?: PlacesNow;
}

/**
 * Reads blobs back, `parallel` requests at a time, and reports each as good (null) or with its
 * problem. Blobs of one pack are read in one request when there are enough of them (restic's
 * check reads packs whole for the same reason: a request per small blob is most of the cost).
 */
export async function readBlobsBack(
  target: ReadOnlyTarget,
  blobs: BlobToRead[],
  parallel: number,
  found: Found,
  opts: ReadOptions = {},
): Promise<void> {
  await againWhereMoved(blobs, found, opts.placesNow, (some, report) =>
    readEach(target, some, parallel, report, opts.signal),
  );
}

/**
 * Runs `pass` over the blobs; a blob whose pack it found gone is looked up again (`placesNow`):
 * a repack may have moved it, and gc deleted the old pack, after the caller looked it up (a grace
 * period shorter than the read). It goes through `pass` once more where it is now, and only a
 * blob still in the same place, or nowhere, is reported missing.
 */
async function againWhereMoved(
  blobs: BlobToRead[],
  found: Found,
  placesNow: PlacesNow | undefined,
  pass: (blobs: BlobToRead[], found: Found) => Promise<void>,
): Promise<void> {
  if (!placesNow) return pass(blobs, found);
  const bySha = new Map(blobs.map((b) => [b.blob.sha256, b]));
  const gone: BlobToRead[] = [];
  await pass(blobs, (blob, problem) => {
    const wanted = bySha.get(blob.sha256);
    if (problem !== PACK_GONE || !wanted) return found(blob, problem);
    gone.push(wanted);
  });
  if (!gone.length) return;
  const now = await placesNow(gone.map((b) => b.blob.sha256));
  const moved: BlobToRead[] = [];
  for (const b of gone) {
    const place = now.get(b.blob.sha256);
    if (place === undefined || JSON.stringify(place ?? undefined) === JSON.stringify(b.place))
      await found(b.blob, PACK_GONE);
    else moved.push({ blob: b.blob, place: place ?? undefined });
  }
  if (moved.length) await pass(moved, found);
}

async function readEach(
  target: ReadOnlyTarget,
  blobs: BlobToRead[],
  parallel: number,
  found: Found,
  signal?: AbortSignal,
): Promise<void> {
  const single: BlobToRead[] = [];
  const byPack = new Map<string, BlobToRead[]>();
  for (const b of blobs) {
    const pack = b.place && 'pack' in b.place ? b.place.pack : undefined;
    const members = pack === undefined ? single : (byPack.get(pack) ?? []);
    members.push(b);
    if (pack !== undefined) byPack.set(pack, members);
  }
  const work: (() => Promise<void>)[] = [];
  for (const [pack, members] of byPack) {
    if (members.length >= WHOLE_PACK_FROM)
      work.push(() => readWholePack(target, pack, members, found, signal));
    else single.push(...members);
  }
  for (const b of single) {
    work.push(async () => {
      signal?.throwIfAborted();
      await found(b.blob, await checkBlob(target, b.blob, b.place, signal));
    });
  }
  await forEachLimited(work, parallel, (run) => run());
}

async function readWholePack(
  target: ReadOnlyTarget,
  pack: string,
  members: BlobToRead[],
  found: Found,
  signal?: AbortSignal,
): Promise<void> {
  signal?.throwIfAborted();
  const blobOf = new Map(members.map((m) => [m.blob.sha256, m.blob]));
  const entries: PackEntry[] = members.flatMap((m) =>
    m.place && 'pack' in m.place
      ? [{ sha256: m.blob.sha256, offset: m.place.offset, length: m.place.length }]
      : [],
  );
  const results = new Map<StoredBlob, string | null>();
  try {
    await readPackBlobs(
      target,
      pack,
      entries,
      (read) => {
        const blob = blobOf.get(read.entry.sha256);
        if (blob) results.set(blob, bytesProblem(blob, read));
      },
      signal ? { signal } : {},
    );
  } catch (err) {
    const problem = packProblem(err);
    for (const m of members) if (!results.has(m.blob)) results.set(m.blob, problem);
  }
  for (const [blob, problem] of results) await found(blob, problem);
}

/** A pack that is gone or unreadable spoils every blob in it; a target that cannot be reached throws. */
function packProblem(err: unknown): string {
  if (err instanceof NotFoundError) return PACK_GONE;
  if (err instanceof StorageError && !err.transient) return `unreadable: ${err.message}`;
  throw err;
}

/**
 * Confirms blobs are still on the target without reading them: a head of each pack once, and of
 * each blob of its own (its size checked). A missing one is reported as a problem like a bad read.
 */
export async function confirmPresent(
  target: ReadOnlyTarget,
  blobs: BlobToRead[],
  parallel: number,
  found: Found,
  opts: ReadOptions = {},
): Promise<void> {
  await againWhereMoved(blobs, found, opts.placesNow, (some, report) =>
    headEach(target, some, parallel, report, opts.signal),
  );
}

async function headEach(
  target: ReadOnlyTarget,
  blobs: BlobToRead[],
  parallel: number,
  found: Found,
  signal?: AbortSignal,
): Promise<void> {
  const packs = new Map<string, Promise<string | null>>();
  const present = (b: BlobToRead): Promise<string | null> => {
    const key = blobObject(b.blob.sha256, b.place);
    // Chunked blobs come here as their chunks (readTargetCopy expands them).
    if (!b.place || !('pack' in b.place)) return headProblem(target, key, b.blob.size);
    let pack = packs.get(key);
    if (!pack) {
      pack = headProblem(target, key, undefined);
      packs.set(key, pack);
    }
    return pack;
  };
  await forEachLimited(blobs, parallel, async (b) => {
    signal?.throwIfAborted();
    await found(b.blob, await present(b));
  });
}

async function headProblem(
  target: ReadOnlyTarget,
  key: string,
  size: number | undefined,
): Promise<string | null> {
  try {
    const info = await target.head(key);
    return size === undefined || info.size === size ? null : `blob size ${info.size}, expected ${size}`;
  } catch (err) {
    if (err instanceof NotFoundError) return key.startsWith('packs/') ? PACK_GONE : 'blob missing';
    throw err;
  }
}
