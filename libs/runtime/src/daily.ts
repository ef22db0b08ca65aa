import { PermanentFailure } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import { requestBackup } from './requests.ts';
import type { Runtime } from './runtime.ts';

export type DailyOutcome =
  | { outcome: 'requested' | 'exists'; backup: BackupRow }
  | { outcome: 'skipped'; reason: string };

/**
 * A host's scheduled daily: requests the daily of its registered sources. Idempotent on
 * (host, UTC day) through the backups' unique key, so a retried, redelivered or doubly
 * triggered job finds today's daily and only makes sure its pipeline is moving.
 */
export async function requestDaily(rt: Runtime, hostId: string): Promise<DailyOutcome> {
  const host = await rt.hosts.get(hostId);
  // A scheduler outliving its host (removed at the producer's next sweep) must not back it up.
  if (!host) return { outcome: 'skipped', reason: `host ${hostId} is not registered` };
  if (host.deregisteredAt) return { outcome: 'skipped', reason: `host ${hostId} is deregistered` };
  // Registered by the configuration version that lists the host, in the transaction that applied it.
  const { sources } = host;
  if (!sources.length) {
    throw new PermanentFailure(
      `host ${hostId} has no sources to back up daily: list them under hosts.${hostId}.sources in the configuration (fleet-backup config apply)`,
      { host: hostId },
    );
  }
  const { backup, created } = await requestBackup(rt, {
    host: hostId,
    kind: 'daily',
    paths: sources.map((s) => s.path),
  });
  return { outcome: created ? 'requested' : 'exists', backup };
}
