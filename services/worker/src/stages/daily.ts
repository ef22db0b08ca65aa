import type { JobContext, JobData } from '@fleet-backup/queue';
import { type Runtime, requestDaily } from '@fleet-backup/runtime';

/** The scheduled daily of one host (pool): requests it, once per host and UTC day. */
export async function daily(rt: Runtime, data: JobData<'daily'>, ctx: JobContext): Promise<void> {
  const result = await requestDaily(rt, data.host);
  if (result.outcome === 'skipped') ctx.log.info({ reason: result.reason }, 'daily skipped');
  else ctx.log.info({ backupId: result.backup.id, key: result.backup.key, outcome: result.outcome }, 'daily');
}
