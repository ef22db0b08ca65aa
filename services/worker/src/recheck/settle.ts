import { type CopyStatus, isKept } from '@fleet-backup/core';
import type { Queryable } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import type { CopyProblem } from './blob-read.ts';

export interface CopyVerdict {
  backupId: string;
  /** 'local' or a target name. */
  copy: string;
  problems: CopyProblem[];
  /** Stored with the copy (checked files and bytes, who checked, what was healed). */
  detail: Record<string, unknown>;
  /** The pipeline's verify stage: finished in the same transaction (it runs whatever the lifecycle). */
  finishStage?: boolean;
}

export interface Settled {
  host: string;
  /** What the read made the copy. */
  status: 'verified' | 'corrupt';
  previous: CopyStatus;
}

/**
 * Sets a copy verified (no problems) or corrupt, and recomputes the backup's status, 3-2-1 and
 * seed entry in the same transaction (BackupStore.refresh). A corrupt copy that reads good again
 * goes back to verified. A backup marked to expire or retire is left alone (null): its copies are
 * being removed, and a re-read must not count them again.
 */
export async function settleCopy(rt: Runtime, v: CopyVerdict): Promise<Settled | null> {
  return rt.backups.transaction(async (tx) => {
    const settled = await settleCopyIn(rt, tx, v);
    if (settled && v.finishStage) await rt.backups.finishStage(tx, v.backupId, 'verify', v.copy);
    return settled;
  });
}

/**
 * settleCopy's writes inside the caller's transaction. With `finishStage` the caller (the verify
 * stage's runner) ends the stage in tx, which recomputes the backup; otherwise this does.
 */
export async function settleCopyIn(rt: Runtime, tx: Queryable, v: CopyVerdict): Promise<Settled | null> {
  const { backups } = rt;
  const status = v.problems.length ? 'corrupt' : 'verified';
  const backup = await backups.lock(v.backupId, tx);
  if (!v.finishStage && !isKept(backup.lifecycle)) return null;
  const row = await tx.query<{ status: CopyStatus }>(
    'SELECT status FROM backup_copies WHERE backup_id = $1 AND target = $2',
    [v.backupId, v.copy],
  );
  const previous = row.rows[0]?.status;
  if (!previous) return null;
  await backups.setCopy(tx, v.backupId, v.copy, status, {
    ...v.detail,
    problems: v.problems.slice(0, 100),
  });
  if (!v.finishStage) await backups.refresh(v.backupId, tx);
  await tx.query('UPDATE backup_copies SET checked_at = $3 WHERE backup_id = $1 AND target = $2', [
    v.backupId,
    v.copy,
    rt.clock.now(),
  ]);
  return { host: backup.host, status, previous };
}
