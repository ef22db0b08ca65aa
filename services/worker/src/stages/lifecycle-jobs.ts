import type { JobContext, JobData } from '@fleet-backup/queue';
import { type Runtime, runExpire, runGc } from '@fleet-backup/runtime';

/**
 * expire (pool): one expire run. Removals a target refused are recorded and retried by the next
 * run; the job fails (and BullMQ retries it with backoff) so the failure shows in Bull Board.
 */
export async function expireJob(rt: Runtime, _data: JobData<'expire'>, ctx: JobContext): Promise<void> {
  const report = await runExpire(rt);
  ctx.log.info({ backups: report.backups.length, errors: report.errors.length }, 'expire run finished');
  if (report.errors.length) {
    throw new Error(
      `expire: ${report.errors.length} removal(s) failed: ${report.errors.slice(0, 5).join('; ')}`,
    );
  }
}

/** gc (pool): one blob garbage collection over every target; `scan` lists the buckets too. */
export async function gcJob(rt: Runtime, data: JobData<'gc'>, ctx: JobContext): Promise<void> {
  const report = await runGc(rt, { scan: data.scan });
  const errors = report.targets.flatMap((t) => t.errors.map((e) => `${t.target}: ${e}`));
  const deleted = report.targets.reduce((n, t) => n + t.deleted, 0);
  ctx.log.info({ deleted, errors: errors.length }, 'gc run finished');
  if (errors.length) throw new Error(`gc: ${errors.length} error(s): ${errors.slice(0, 5).join('; ')}`);
}
