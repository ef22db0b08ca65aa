import { CopyChecks, RotFindings, storedBlob } from '@fleet-backup/db';
import { blobKey } from '@fleet-backup/storage';
import type { Runtime } from '../runtime.ts';

/**
 * A copy that failed a drill on its bytes is corrupt, exactly as if verify had found it: it stops
 * counting towards 3-2-1, the backup is no longer verified, and the host's backup_metadata.json
 * says so. The blob that served the bad bytes is marked bad on that target (replicate then never
 * trusts it) and a repair of the target is queued, which heals it from a good copy and reads the
 * copy again.
 */
export async function markCopyCorrupt(
  rt: Runtime,
  found: { backupId: string; target: string; path: string; problem: string; drillId: string },
): Promise<void> {
  const { backups } = rt;
  const { backupId } = found;
  const backup = await backups.transaction(async (tx) => {
    await backups.lock(backupId, tx);
    await backups.setCopy(tx, backupId, found.target, 'corrupt', {
      drill: found.drillId,
      problems: [{ path: found.path, problem: found.problem }],
    });
    return backups.refresh(backupId, tx);
  });
  await rt.queues.add('refresh-metadata', { host: backup.host, backupId });
  const file = (await backups.detail(backupId)).files.find((f) => f.path === found.path);
  if (!file) return;
  const blob = storedBlob(file);
  await new RotFindings(rt.pool, rt.clock).record({
    copy: found.target,
    host: backup.host,
    backupId,
    object: blobKey(blob.sha256),
    problem: found.problem,
    foundBy: 'drill',
  });
  if (await new CopyChecks(rt.pool, rt.clock).blobBad(found.target, blob, found.problem)) {
    await rt.queues.add('repair', { target: found.target });
  }
}

/**
 * The drill restores from a target, never from the host's own copy (which dies with the host).
 * That copy gets its own check, on the host: the agent reads the drilled backup's local copy
 * back in full (verify-local), marks it corrupt if it reads bad and heals it from a target.
 */
export async function checkLocalCopyToo(rt: Runtime, host: string, backupId: string): Promise<void> {
  try {
    await rt.queues.add('verify-local', { backupId, host, by: 'drill' });
  } catch (err) {
    rt.log.warn(
      { err, host, backupId },
      'could not queue the check of the local copy; the rolling re-check reads it',
    );
  }
}
