import { BadInputError, RETENTION_RULES, type RetentionFacts } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import type { Runtime } from '../runtime.ts';
import {
  advanceRemoval,
  lifecycleStore,
  type RemovalProgress,
  removalProgress,
  waitUntilEnded,
} from './removal.ts';

/** A retirement the backup's state forbids (not a pre_change, change not verified, permanent…): HTTP 409. */
export class RetireRefused extends BadInputError {}

/** The backup to retire: by id, or by key (with its host when the key exists on several). */
export type BackupRef = { id: string } | { key: string; host?: string | null };

/**
 * Retires a pre_change backup by hand, the seed's "manual cleanup" once its change is verified:
 * marks it `retiring`, removes its copies and ends it `retired`. Refused (RetireRefused) while its
 * change is not verified, when it is permanent, and while its pipeline runs. Retiring one that is
 * retiring or retired carries on or reports it, so a retried request is harmless.
 */
export async function retireBackup(
  rt: Runtime,
  ref: BackupRef,
  opts: { by?: string | null; waitMs?: number } = {},
): Promise<RemovalProgress> {
  const store = lifecycleStore(rt);
  const backup =
    'id' in ref ? await rt.backups.require(ref.id) : await store.findByKey(ref.key, ref.host ?? null);
  if (backup.kind !== 'pre_change') {
    throw new RetireRefused(
      `${backup.host}/${backup.key} is a ${backup.kind} backup: only pre_change backups are retired by hand; ` +
        `${backup.kind === 'daily' ? 'dailies expire' : 'manual backups expire by their retention'} through fleet-backup expire`,
      { backupId: backup.id },
    );
  }
  const reason = `retired by hand${opts.by ? ` by ${opts.by}` : ''}`;
  const result = await store.mark(backup.id, 'retiring', reason, {
    by: opts.by ?? null,
    check: (facts) => whyNot(backup, facts),
  });
  if (!result.marked && result.refusal) throw new RetireRefused(result.refusal, { backupId: backup.id });
  if (result.backup.lifecycle === 'expired') {
    throw new RetireRefused(`${backup.host}/${backup.key} has already expired`, { backupId: backup.id });
  }
  rt.log.info({ backupId: backup.id, host: backup.host, key: backup.key, by: opts.by }, 'retiring by hand');
  await advanceRemoval(rt, backup);
  if (opts.waitMs) await waitUntilEnded(rt, [backup.id], opts.waitMs);
  return removalProgress(rt, backup.id);
}

/** Why this pre_change may not be retired now, or null. */
function whyNot(backup: BackupRow, facts: RetentionFacts): string | null {
  const name = `${backup.host}/${backup.key}`;
  if (facts.changeVerifiedAt === null) {
    const ticket = facts.ticket ?? '(no ticket)';
    return `the change ${ticket} that ${name} protects is not verified: it is kept until the change is (fleet-backup change verify ${ticket} --by NAME)`;
  }
  const retention = facts.retention ?? RETENTION_RULES.pre_change.fallback;
  if (retention === 'permanent') {
    return `${name} is permanent (a database pre-migration snapshot, or asked for as such): it is never retired`;
  }
  if (facts.inFlight) return `${name} is still being backed up: retire it once its pipeline has finished`;
  return null;
}
