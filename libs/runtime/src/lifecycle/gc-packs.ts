import { PackGcStore } from '@fleet-backup/db';
import {
  listAll,
  NotFoundError,
  PACKS_PREFIX,
  PackBuilder,
  type PackEntry,
  packKey,
  parsePackKey,
  putPack,
  readPackBlobs,
  readPackIndex,
  type StorageTarget,
} from '@fleet-backup/storage';
import type { Runtime } from '../runtime.ts';

/** What gc did to one target's packs. */
export interface PackGcReport {
  /** Packs found on the target that Postgres did not know (a crash after their upload). */
  adopted: number;
  /** Mostly dead packs whose live blobs went to a new pack. */
  repacked: number;
  /** Packs deleted (or, in a dry run, that would be), and their bytes. */
  deleted: number;
  bytes: number;
}

/**
 * Pack garbage collection on one target, after its blobs were swept. `scan`: packs on the target
 * Postgres does not know are recorded, so they go after the grace period like any dead pack.
 * Packs at most REPACK_LIVE_PERCENT live are repacked. Dead packs past the grace period are
 * deleted unless their index holds a blob something still references (`protectedShas`: blobs of
 * manifests Postgres does not account for).
 */
export async function gcPacks(
  rt: Runtime,
  target: StorageTarget,
  opts: { dryRun: boolean; scan: boolean; graceMs: number; protectedShas: Set<string>; errors: string[] },
): Promise<PackGcReport> {
  const store = new PackGcStore(rt.pool, rt.clock);
  const out: PackGcReport = { adopted: 0, repacked: 0, deleted: 0, bytes: 0 };
  if (opts.scan && !opts.dryRun) out.adopted = await adoptUnknownPacks(store, target);
  if (!opts.dryRun) {
    for (const pack of await store.packsUsed(target.name, rt.config.repackLiveFraction)) {
      if (pack.liveBytes === 0) continue; // dead already: deleted below, nothing to move
      try {
        await repack(rt, store, target, pack.sha256);
        out.repacked++;
      } catch (err) {
        opts.errors.push(`repack of ${packKey(pack.sha256)}: ${(err as Error).message}`);
      }
    }
  }
  for (const pack of await store.deadPacks(target.name, opts.graceMs)) {
    try {
      const entries = await readPackIndex(target, pack.sha256).catch((err: unknown) => {
        if (err instanceof NotFoundError) return [];
        throw err;
      });
      if (entries.some((e) => opts.protectedShas.has(e.sha256))) continue;
      if (opts.dryRun) {
        out.deleted++;
        out.bytes += pack.size;
        continue;
      }
      const verdict = await store.sweepPack(target.name, pack.sha256, entries, () =>
        target.delete(packKey(pack.sha256)),
      );
      if (verdict === 'deleted') {
        out.deleted++;
        out.bytes += pack.size;
      }
    } catch (err) {
      opts.errors.push(`${packKey(pack.sha256)}: ${(err as Error).message}`);
    }
  }
  if (out.deleted || out.repacked || out.adopted)
    rt.log.info({ target: target.name, ...out }, 'gc: packs swept');
  return out;
}

async function adoptUnknownPacks(store: PackGcStore, target: StorageTarget): Promise<number> {
  const known = await store.known(target.name);
  let adopted = 0;
  for await (const obj of listAll(target, PACKS_PREFIX)) {
    const sha256 = parsePackKey(obj.key);
    if (sha256 === undefined || known.has(sha256)) continue;
    const entries = await readPackIndex(target, sha256).catch(() => [] as PackEntry[]);
    await store.adopt(target.name, { sha256, size: obj.size, entries });
    adopted++;
  }
  return adopted;
}

/**
 * Copies a pack's live blobs (those whose place is still in it) to a new pack, every byte checked
 * against its sha256, then moves their places there. A crash before the move leaves the new pack
 * unknown (adopted and deleted by a scan later) and the old one in use; after it, the old pack is
 * dead and goes after the grace period. A blob that reads bad stays where it was, for the re-read
 * and repair to deal with, and keeps the old pack.
 */
async function repack(rt: Runtime, store: PackGcStore, target: StorageTarget, pack: string): Promise<void> {
  const live = await rt.blobs.placesIn(target.name, pack);
  if (live.length === 0) return;
  const builder = new PackBuilder(Number.MAX_SAFE_INTEGER);
  await readPackBlobs(
    target,
    pack,
    live,
    (read) => {
      if (read.bytes && read.sha256 === read.entry.sha256) builder.add(read.entry.sha256, read.bytes);
    },
    { keepBytes: true },
  );
  if (builder.count === 0) return;
  const fresh = builder.take();
  await putPack(target, fresh);
  await store.movePlaces(target.name, pack, fresh);
}
