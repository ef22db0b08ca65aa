import type { JobContext, JobData } from '@fleet-backup/queue';
import type { Runtime } from '@fleet-backup/runtime';
import { recheckTargetCopy } from '../recheck/target-copy.ts';

/**
 * verify (pool): reads the copy on one target back in full: the whole manifest, byte for byte
 * (against the sha256 kept when it was written), and every blob, re-hashed. A mismatch marks that
 * copy corrupt (the backup then stays unverified) and queues a repair from a good copy, after
 * which the copy is read again; only a copy whose every byte matches counts as verified.
 */
export async function verify(rt: Runtime, data: JobData<'verify'>, ctx: JobContext): Promise<void> {
  if ((await rt.backups.startStage(data.backupId, 'verify', data.target)) === 'started') {
    await recheckTargetCopy(rt, data.backupId, data.target, {
      by: 'verify',
      log: ctx.log,
      signal: ctx.signal,
      repair: true,
      finishStage: true,
    });
  }
  // The host's backup_metadata.json lives on its agent; ask it to refresh.
  await rt.queues.add('refresh-metadata', { host: data.host, backupId: data.backupId });
}
