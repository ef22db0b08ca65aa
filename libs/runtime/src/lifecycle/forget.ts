import { BadInputError, NotFoundFailure } from '@fleet-backup/core';
import { type BackupDetail, type BackupRow, type ForgetRecord, ForgetStore } from '@fleet-backup/db';
import type { Runtime } from '../runtime.ts';
import { advanceRemoval, lifecycleStore, waitUntilEnded } from './removal.ts';
import type { BackupRef } from './retire.ts';

/** A forget the backup's state forbids without --force (it verified, it runs, its change is pending): exit 2. */
export class ForgetRefused extends BadInputError {}

export interface ForgetOptions {
  /** Who asks (recorded, logged). */
  by: string;
  /** Why (recorded, logged). */
  reason: string;
  /** Forget a verified backup, one still running, or a pre_change whose change is pending. */
  force?: boolean;
  /** How long to wait for the host's agent to remove the local copy before returning. */
  waitMs?: number;
}

/** Where a forget stands: the audit, and while it is not finished, the copies still to remove. */
export interface ForgetProgress extends ForgetRecord {
  /** True once the catalog rows are deleted. */
  forgotten: boolean;
  /** Copies still there, with what held the last attempt up; empty once forgotten. */
  pending: { copy: string; error: string | null }[];
}

/**
 * `fleet-backup forget`: removes a backup that never verified (failed, unverified or incomplete;
 * with `force`, any backup), for good. Audited first (who, when, why, and what the backup was, in
 * backup_forgets), then as expiry removes a backup: marked so no stage runs for it again, its
 * local directory removed by its agent and its manifest deleted on every target, and only then its
 * catalog rows deleted. Its blobs stay for gc, which deletes those no other backup references.
 * Crash-safe and idempotent: asking again (or the producer's sweep, finishForgets) carries an
 * interrupted forget on; asking for one already forgotten reports it.
 */
export async function forgetBackup(
  rt: Runtime,
  ref: BackupRef,
  opts: ForgetOptions,
): Promise<ForgetProgress> {
  const store = new ForgetStore(rt.backups, rt.clock);
  const backup = await resolve(rt, store, ref);
  if ('forgotten' in backup) return backup;
  const force = opts.force ?? false;
  const begun = await store.begin({
    id: backup.id,
    by: opts.by,
    reason: opts.reason,
    force,
    check: (detail) => (force ? null : whyNot(detail)),
  });
  if (!begun.begun) throw new ForgetRefused(begun.refusal, { backupId: backup.id });
  rt.log.info(
    { backupId: backup.id, host: backup.host, key: backup.key, by: opts.by, reason: opts.reason, force },
    'forget: backup marked; removing its copies',
  );
  await advanceRemoval(rt, backup);
  if (opts.waitMs) await waitUntilEnded(rt, [backup.id], opts.waitMs);
  return finishForget(rt, backup.id);
}

/** The backup to forget, or the report of its forget when it is already forgotten (asked again). */
async function resolve(rt: Runtime, store: ForgetStore, ref: BackupRef): Promise<BackupRow | ForgetProgress> {
  if ('id' in ref) {
    const done = await store.record(ref.id);
    if (done?.forgottenAt) return { ...done, forgotten: true, pending: [] };
    return rt.backups.require(ref.id);
  }
  try {
    return await lifecycleStore(rt).findByKey(ref.key, ref.host ?? null);
  } catch (err) {
    const done =
      err instanceof NotFoundFailure ? await store.forgottenByKey(ref.key, ref.host ?? null) : null;
    if (done) return { ...done, forgotten: true, pending: [] };
    throw err;
  }
}

/** Deletes the catalog rows of a forget whose copies are all removed; reports where it stands. */
export async function finishForget(rt: Runtime, id: string): Promise<ForgetProgress> {
  const store = new ForgetStore(rt.backups, rt.clock);
  const finished = await store.finish(id);
  if (finished) {
    const { record, now } = finished;
    if (now)
      rt.log.info({ backupId: id, host: record.host, key: record.key, by: record.by }, 'backup forgotten');
    return { ...record, forgotten: true, pending: [] };
  }
  const record = await store.record(id);
  if (!record) throw new NotFoundFailure(`backup ${id} is not being forgotten`, { backupId: id });
  const removals = await lifecycleStore(rt).removals(id);
  const pending = removals.filter((r) => !r.removedAt).map((r) => ({ copy: r.copy, error: r.error }));
  return { ...record, forgotten: false, pending };
}

/**
 * Carries every unfinished forget on (the producer's sweep): asks again for the copies still
 * there, and deletes the catalog rows of those whose copies are all gone. So a forget cut short
 * by a crash, or waiting for an agent that was down, completes without anyone asking again.
 */
export async function finishForgets(rt: Runtime): Promise<number> {
  const store = new ForgetStore(rt.backups, rt.clock);
  let finished = 0;
  for (const record of await store.unfinished()) {
    const backup = await rt.backups.get(record.backupId);
    if (backup) await advanceRemoval(rt, backup);
    if ((await finishForget(rt, record.backupId)).forgotten) finished++;
  }
  return finished;
}

/** Why this backup may not be forgotten without --force, or null. */
export function whyNot({ backup, stages }: BackupDetail): string | null {
  const name = `${backup.host}/${backup.key}`;
  if (backup.status === 'verified') {
    return (
      `${name} verified: it is a good backup, which leaves through its retention (fleet-backup expire) ` +
      `or, for a pre_change, fleet-backup retire; add --force to forget it anyway`
    );
  }
  if (backup.status === 'running') {
    const open = stages
      .filter((s) => s.status === 'running' || s.status === 'pending')
      .map((s) => `${s.stage}${s.target ? `(${s.target})` : ''} ${s.status}`)
      .slice(0, 3);
    return (
      `${name} is still being backed up (${open.join(', ')}): forget it once its pipeline has ended, ` +
      `or add --force if it is stuck`
    );
  }
  if (backup.kind === 'pre_change' && backup.changeVerifiedAt === null) {
    const ticket = backup.request.ticket ?? '(no ticket)';
    return (
      `${name} protects change ${ticket}, which is not verified yet: the change may still need it; ` +
      `add --force to forget it anyway`
    );
  }
  return null;
}
