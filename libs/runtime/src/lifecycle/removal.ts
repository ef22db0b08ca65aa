import { isEnded, LOCAL_COPY } from '@fleet-backup/core';
import { type BackupRow, LifecycleStore, ListingStore } from '@fleet-backup/db';
import { listingKey, manifestKey } from '@fleet-backup/storage';
import type { Runtime } from '../runtime.ts';

/** Where one backup's removal stands. */
export interface RemovalProgress {
  id: string;
  host: string;
  kind: string;
  key: string;
  /** expiring or retiring while copies remain; expired or retired once all are gone. */
  lifecycle: string;
  reason: string | null;
  removed: string[];
  /** Copies still there, with what held the last attempt up. */
  pending: { copy: string; error: string | null }[];
}

/** The lifecycle store over this runtime's database and clock. */
export function lifecycleStore(rt: Runtime): LifecycleStore {
  return new LifecycleStore(rt.backups, rt.clock);
}

/**
 * Carries a marked backup's removal forward: asks its host's agent to delete the local copy
 * (a job with a deterministic id, so asking again is harmless), deletes its manifest (and the
 * listing segments only it still needs) on every target still holding one, and ends it once every
 * removal is recorded. Blobs stay: other backups may share them, and gc deletes them once nothing
 * references them. Safe to run any number of
 * times, from any process, after a crash at any point.
 */
export async function advanceRemoval(
  rt: Runtime,
  backup: Pick<BackupRow, 'id' | 'host' | 'key'>,
): Promise<void> {
  const store = lifecycleStore(rt);
  for (const r of await store.removals(backup.id)) {
    if (r.removedAt) continue;
    if (r.copy === LOCAL_COPY) {
      await rt.queues.add('expire-local', { backupId: backup.id, host: backup.host });
      continue;
    }
    try {
      const target = rt.targets.get(r.copy);
      await target.delete(manifestKey(backup.host, backup.key));
      // Then the listing segments no other backup's copy there lists: each removal deletes its
      // own, so the last copy out deletes what it shared.
      await new ListingStore(rt.pool).unneededOn(backup.id, r.copy, async (shas) => {
        for (const sha of shas) await target.delete(listingKey(backup.host, sha));
      });
      await store.recordRemoved(backup.id, r.copy);
      rt.log.info(
        { backupId: backup.id, host: backup.host, key: backup.key, target: r.copy },
        'manifest removed',
      );
    } catch (err) {
      const message = (err as Error).message;
      await store.recordRemovalError(backup.id, r.copy, message);
      rt.log.warn({ backupId: backup.id, target: r.copy, err }, 'manifest not removed; the next run retries');
    }
  }
  await store.finishIfRemoved(backup.id);
}

/** The removal state of one backup, from Postgres. */
export async function removalProgress(rt: Runtime, id: string): Promise<RemovalProgress> {
  const backup = await rt.backups.require(id);
  const removals = await lifecycleStore(rt).removals(id);
  return {
    id,
    host: backup.host,
    kind: backup.kind,
    key: backup.key,
    lifecycle: backup.lifecycle ?? 'kept',
    reason: backup.lifecycleReason,
    removed: removals.filter((r) => r.removedAt).map((r) => r.copy),
    pending: removals.filter((r) => !r.removedAt).map((r) => ({ copy: r.copy, error: r.error })),
  };
}

/**
 * Waits (polling Postgres) until the backups have ended or `waitMs` has passed: the local copies
 * are removed by the hosts' agents, in their own time.
 */
export async function waitUntilEnded(rt: Runtime, ids: string[], waitMs: number): Promise<void> {
  const POLL_MS = 200;
  for (let waited = 0; waited < waitMs; waited += POLL_MS) {
    const r = await rt.pool.query<{ lifecycle: string | null }>(
      'SELECT lifecycle FROM backups WHERE id = ANY($1::uuid[])',
      [ids],
    );
    if (r.rows.every((row) => isEnded(row.lifecycle))) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
