import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { type BlobPlace, type ChunkedPlace, openBlob, type ReadOnlyTarget } from '@fleet-backup/storage';
import type { RestoreFile } from './model.ts';
import { PackCache } from './pack-cache.ts';

/** A copy restored bytes can come from: the host's backup directory or a target's blobs. */
export interface CopySource {
  name: string;
  open(file: RestoreFile): Promise<Readable>;
  /**
   * Where a file's bytes begin in this copy, for a restore to read the files in that order: each
   * pack is then fetched once, and let go once its last file has landed (restic's restorer walks
   * packs the same way). Absent: the order asked.
   */
  readOrder?(file: RestoreFile): string;
}

/**
 * A stored copy of `size` bytes as a stream. A read stream allocates its whole highWaterMark for
 * every read, so the buffer is sized to the file: 1 MiB for each of 20,000 small files was 20 GB
 * of garbage.
 */
export function storedCopyStream(file: string, size: number): Readable {
  return createReadStream(file, { highWaterMark: Math.min(1 << 20, Math.max(size, 1)) });
}

/** The host's own copy under BACKUP_ROOT/<key> (stored paths are checked before anything is read). */
export function localSource(name: string, dir: string): CopySource {
  return {
    name,
    open: async (file) =>
      storedCopyStream(path.join(dir, file.storedPath), file.encrypted?.size ?? file.size),
  };
}

/** Where each blob is on a target: in a pack or in chunks (a place), or its own object (null or absent). */
export type BlobPlaces = ReadonlyMap<string, BlobPlace | null>;

/**
 * A target's content-addressed blobs (an encrypted file's blob is its ciphertext's address), found
 * through `places`: Postgres' record of the target, or the packs' own indexes when restoring from
 * the bucket alone.
 */
export function targetSource(
  target: ReadOnlyTarget,
  places: BlobPlaces,
  files: RestoreFile[] = [],
): CopySource {
  const placeOf = (file: RestoreFile) => {
    const sha256 = file.encrypted?.sha256 ?? file.sha256;
    return places.get(sha256) ?? chunkedPlace(file.chunks, places);
  };
  const readOrder = (file: RestoreFile) => {
    const place = placeOf(file);
    const first = place && ('pack' in place ? place : place.chunks[0]?.place);
    // Blobs in their own objects (stored before packs) first, then by pack and offset.
    return first ? `${first.pack}:${first.offset.toString(16).padStart(12, '0')}` : '';
  };
  // Packs many of the files live in are fetched whole, once, in the order a restore reads them.
  const ordered = files.map((file) => ({ key: readOrder(file), place: placeOf(file) }));
  ordered.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const view = new PackCache(
    target,
    ordered.map((o) => o.place),
  ).view();
  return {
    name: target.name,
    open: (file) => openBlob(view, file.encrypted?.sha256 ?? file.sha256, placeOf(file)),
    readOrder,
  };
}

/** A file's chunks, when the manifest lists them and each is in a pack found (else undefined). */
function chunkedPlace(chunks: string[] | undefined, places: BlobPlaces): ChunkedPlace | undefined {
  if (!chunks) return undefined;
  const found: ChunkedPlace['chunks'] = [];
  for (const sha256 of chunks) {
    const place = places.get(sha256);
    if (!place || !('pack' in place)) return undefined;
    found.push({ sha256, length: place.length, place });
  }
  return { chunks: found };
}
