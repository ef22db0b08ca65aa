import type { JobContext, JobData } from '@fleet-backup/queue';
import { type Runtime, requestPreChange } from '@fleet-backup/runtime';

/**
 * pre-change (pool): another service's queued request for a pre-change backup. Records the
 * backup under the id the caller chose and enqueues its snapshot; a redelivery finds the backup
 * already there and only re-enqueues (a no-op by job id).
 */
export async function preChange(rt: Runtime, data: JobData<'pre-change'>, ctx: JobContext): Promise<void> {
  const { backup, created } = await requestPreChange(rt, data);
  ctx.log.info({ backupId: backup.id, key: backup.key, created }, 'pre-change backup recorded');
}
