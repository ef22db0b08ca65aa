import { forEachLimited } from '@fleet-backup/core';
import {
  type BackupDetail,
  type BlobChunk,
  type ChainSegment,
  ListingStore,
  type Pool,
} from '@fleet-backup/db';
import {
  applySegments,
  created,
  deltaSegment,
  existingObject,
  fullSegment,
  type Listing,
  listingKey,
  ownSegment,
  type StorageTarget,
  storedSegment,
} from '@fleet-backup/storage';
import { backupListing } from './manifest.ts';

/**
 * A chain is cut short after this many segments: a restore from the bucket alone reads them all,
 * and a rot in an early one spoils every copy that lists it until a repair. The schema refuses
 * more than twice as many.
 */
export const MAX_CHAIN = 32;

/**
 * The backup's listing chain, chosen once for every target (ListingStore.settle): the previous
 * backup's chain and the changes since it, or a new full listing when there is no chain to extend,
 * it is MAX_CHAIN long, or its changes together would outweigh half the full listing (then a
 * restore reads more changes than listing, and a new full one is cheaper to keep). A backup where
 * nothing changed reuses the previous chain as it is.
 */
export async function settleChain(
  pool: Pool,
  detail: BackupDetail,
  chunkLists: ReadonlyMap<string, BlobChunk[]>,
): Promise<ChainSegment[]> {
  return new ListingStore(pool).settle(detail.backup.id, (previous) =>
    extendChain(previous, backupListing(detail, chunkLists)),
  );
}

/** The chain for `listing` after `previous` (see settleChain). */
export async function extendChain(previous: ChainSegment[], listing: Listing): Promise<ChainSegment[]> {
  const base = previous[0];
  if (!base?.full || previous.length >= MAX_CHAIN) return [await full(listing)];
  const before = resolveChain(previous);
  // Bytes Postgres kept that no longer read as a chain: a full listing is right whatever they hold.
  if (!before) return [await full(listing)];
  const delta = deltaSegment(before, listing);
  const changed =
    Object.keys(delta.files).length +
    Object.keys(delta.nodes).length +
    delta.removedFiles.length +
    delta.removedNodes.length;
  if (changed === 0) return previous;
  const stored = await storedSegment(delta);
  const changes = previous.slice(1).reduce((n, s) => n + s.bytes.length, stored.bytes.length);
  if (changes * 2 > base.bytes.length) return [await full(listing)];
  return [...previous, { ...stored, full: false }];
}

/** The listing a chain kept in Postgres resolves to; null when it does not (never expected). */
function resolveChain(chain: ChainSegment[]): Listing | null {
  const where = { target: 'catalog', key: chain[0]?.sha256 ?? '' };
  try {
    return applySegments(
      chain.map((s) => ownSegment(s.bytes, s.sha256)),
      where,
    );
  } catch {
    return null;
  }
}

async function full(listing: Listing): Promise<ChainSegment> {
  return { ...(await storedSegment(fullSegment(listing))), full: true };
}

/**
 * Uploads each segment of the chain the target lacks. One there with another size is rot at a
 * content address: the bytes kept in Postgres replace it (a repair of the copies listing it reads
 * them again).
 */
export async function sendSegments(
  target: StorageTarget,
  host: string,
  chain: ChainSegment[],
  parallel: number,
  signal?: AbortSignal,
): Promise<number> {
  let sent = 0;
  const unique = [...new Map(chain.map((s) => [s.sha256, s])).values()];
  await forEachLimited(unique, parallel, async (s) => {
    signal?.throwIfAborted();
    const key = listingKey(host, s.sha256);
    if ((await existingObject(target, key))?.size === s.bytes.length) return;
    if (await created(putSegment(target, key, s))) sent += s.bytes.length;
  });
  return sent;
}

/** Writes a segment's bytes under its key (checked against its sha256 by the target). */
export async function putSegment(target: StorageTarget, key: string, s: ChainSegment): Promise<void> {
  await target.put(key, s.bytes, { sha256: s.sha256, size: s.bytes.length });
}
