import type { JobContext, JobData } from '@fleet-backup/queue';
import { type Runtime, runDrill } from '@fleet-backup/runtime';

/**
 * The scheduled restore drill of one host (pool). The outcome, pass or fail, is recorded in
 * drill_runs and the job completes either way: a failed drill is a finding for `report`, and
 * retrying it would only restore the same bad copy again. An unknown host fails the job for good.
 */
export async function drill(rt: Runtime, data: JobData<'drill'>, ctx: JobContext): Promise<void> {
  const { run, databases } = await runDrill(rt, {
    host: data.host,
    trigger: 'scheduled',
    signal: ctx.signal,
  });
  ctx.log.info(
    { drill: run.id, ok: run.ok, backup: run.backupKey, copy: run.target, files: run.files, databases },
    run.ok ? 'drill passed' : `drill failed: ${run.reason}`,
  );
}
