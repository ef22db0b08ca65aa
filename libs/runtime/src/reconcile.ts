import { STAGES, type StageName } from '@fleet-backup/core';
import { backupsWithOpenStages, pipelineState } from '@fleet-backup/db';
import { inspectJob, isHostQueue, type JobInspection, replaceFinishedJob } from '@fleet-backup/queue';
import { nextJobs, type PlannedJob } from './pipeline.ts';
import type { Runtime } from './runtime.ts';

/** What one reconcile pass did. */
export interface ReconcileReport {
  /** Backups looked at: running, or failed with a stage still on its way. */
  backups: number;
  /** Jobs added because Redis held none (lost with Redis, or never enqueued). */
  enqueued: number;
  /** Stages whose job had ended in failure that Postgres never heard of: now recorded as failed. */
  failedRecorded: number;
  /** Stages whose job had completed while Postgres still showed the stage open: queued again. */
  requeued: number;
}

/**
 * Rebuilds Redis's work from Postgres, and ends what Redis ended without telling Postgres. For
 * each stage a backup needs next, the job with its deterministic id is:
 * - missing: enqueued (Redis lost it, or the process died between Postgres and Redis);
 * - waiting, delayed or active: left alone;
 * - failed: recorded as failed (see recordEndedJob);
 * - completed, with the stage still open: queued again, since a stage is idempotent.
 */
export async function reconcile(rt: Runtime): Promise<ReconcileReport> {
  const report: ReconcileReport = { backups: 0, enqueued: 0, failedRecorded: 0, requeued: 0 };
  const errors: { backupId: string; err: unknown }[] = [];
  for (const id of await backupsWithOpenStages(rt.pool)) {
    report.backups++;
    try {
      // Stages only: a sweep over every open backup must not load their file rows.
      const state = await pipelineState(rt.pool, id);
      // Forgotten since it was listed: nothing left to carry on.
      if (!state) continue;
      for (const job of nextJobs(state)) await reconcileJob(rt, job, report);
    } catch (err) {
      // One backup's trouble (forgotten meanwhile, a Redis hiccup) must not hold back the others.
      errors.push({ backupId: id, err });
    }
  }
  if (errors.length) {
    const [first] = errors;
    rt.log.warn(
      { failed: errors.length, ...first },
      'reconcile: some backups could not be checked; next sweep retries',
    );
  }
  if (report.enqueued || report.failedRecorded || report.requeued) rt.log.info({ ...report }, 'reconciled');
  return report;
}

async function reconcileJob(rt: Runtime, planned: PlannedJob, report: ReconcileReport): Promise<void> {
  const job = await inspectJob(rt.queues, planned.name, planned.data);
  if (!job) {
    await rt.queues.add(planned.name, planned.data);
    report.enqueued++;
    return;
  }
  if (job.state !== 'failed' && job.state !== 'completed') return;
  // Read Postgres again after Redis: the job may have finished its stage between the two reads.
  const { backupId, target } = stageOf(planned);
  const stage = await rt.backups.stage(backupId, planned.name as StageName, target);
  if (!stage || (stage.status !== 'pending' && stage.status !== 'running')) return;
  if (job.state === 'failed') {
    await recordEndedJob(rt, planned, job);
    report.failedRecorded++;
    return;
  }
  // A completed job whose stage Postgres still shows open: the stage never finished (a restored
  // database, a handler bug). Its id would make every add a no-op, so run it again under the same id.
  if (await replaceFinishedJob(rt.queues, planned.name, planned.data)) {
    rt.log.warn(
      { backupId, stage: planned.name, target, jobId: job.id },
      'reconcile: completed job re-queued',
    );
    report.requeued++;
  }
}

/**
 * A job that failed for good while its stage is still open in Postgres: BullMQ failed it without
 * our handler (it stalled past maxStalledCount: the worker running it was killed again and again),
 * or the handler's failure could not be written (Postgres was down for all its attempts).
 *
 * We record it as failed rather than re-queue it under a new attempt. The README promises that a
 * job that used up its retries sits in failed, with the backup showing `failed` and the reason,
 * and that retrying it in Bull Board carries the backup on. Re-queueing by ourselves would break
 * that promise, and would hide (and retry forever) a failure that is real, such as an agent that
 * the OOM-killer ends on every attempt; the job alone cannot tell us the cause was transient. The
 * job stays as it is in Redis, so the operator's retry (job.retry()) runs it again: the stage's
 * `startStage` takes any status but `done`, and the pipeline goes on from there.
 */
async function recordEndedJob(rt: Runtime, planned: PlannedJob, job: JobInspection): Promise<void> {
  const { backupId, target } = stageOf(planned);
  const message = endedJobMessage(planned, job);
  await rt.backups.failStage(backupId, planned.name as StageName, target, message, true);
  rt.log.error(
    { backupId, stage: planned.name, target, jobId: job.id, queue: job.queue, reason: job.failedReason },
    'reconcile: a job failed without its failure being recorded; backup marked failed',
  );
}

/** The stage error an operator reads in `show`, the API and `backup --wait`: what, why, and what to do. */
export function endedJobMessage(planned: PlannedJob, job: JobInspection): string {
  const data = planned.data as { host: string };
  const runner = isHostQueue(job.queue) ? `the agent of host ${data.host}` : 'the pool worker';
  const retry = `then retry job ${job.id} on queue ${job.queue} in Bull Board to carry the backup on`;
  if (job.stalled) {
    return (
      `${planned.name} stalled ${job.stalledCount} times: ${runner} stopped while running it each time ` +
      `(killed, crashed, OOM-killed or restarted), and BullMQ gave up ("${job.failedReason}"); ` +
      `check its logs and memory limit, ${retry}`
    );
  }
  return (
    `${job.failedReason ?? 'failed'} (attempt ${job.attemptsMade} of ${job.maxAttempts}; the failure could not ` +
    `be recorded when it happened, e.g. Postgres was unreachable): fix the cause, ${retry}`
  );
}

function stageOf(planned: PlannedJob): { backupId: string; target: string } {
  const data = planned.data as { backupId: string; target?: string };
  if (!STAGES.includes(planned.name as StageName)) throw new Error(`${planned.name} is not a stage`);
  return { backupId: data.backupId, target: data.target ?? '' };
}
