import { type JobData, type JobName, jobCatalog } from './catalog.ts';
import type { JobQueues } from './job-queues.ts';

/** The message BullMQ fails a job with when it stalled more times than `maxStalledCount` allows. */
export const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/** Where a job with a deterministic id stands in Redis, as far as the reconciler cares. */
export interface JobInspection {
  id: string;
  queue: string;
  /** BullMQ's state: waiting, active, delayed, prioritized, waiting-children, completed, failed. */
  state: string;
  /** Why it failed (the last attempt's error), when it did. */
  failedReason: string | null;
  attemptsMade: number;
  maxAttempts: number;
  /** How often its worker vanished while running it (SIGKILL, OOM-killer, lost lock). */
  stalledCount: number;
  /** True when BullMQ failed it for stalling: no handler of ours ran, so nothing was recorded. */
  stalled: boolean;
}

/** The id a catalog job gets from its payload, or null for jobs without a deterministic id. */
export function catalogJobId<N extends JobName>(name: N, data: JobData<N>): string | null {
  const make = jobCatalog[name].jobId as ((d: JobData<N>) => string) | undefined;
  return make ? make(data) : null;
}

/**
 * Reads the job a catalog payload maps to, by its deterministic id; null when Redis holds no such
 * job (never added, removed, or lost with Redis) or the job has no deterministic id.
 */
export async function inspectJob<N extends JobName>(
  queues: JobQueues,
  name: N,
  data: JobData<N>,
): Promise<JobInspection | null> {
  const id = catalogJobId(name, data);
  if (!id) return null;
  const queueName = queues.queueFor(name, data);
  const queue = queues.queue(queueName);
  // The state first, then the job: a job read just before BullMQ failed it (a stall past the limit)
  // would show `failed` with none of the reason and counts the same move wrote. Failed stays failed.
  const state = await queue.getJobState(id);
  if (state === 'unknown') return null;
  const job = await queue.getJob(id);
  if (!job) return null;
  const failedReason = job.failedReason || null;
  return {
    id,
    queue: queueName,
    state,
    failedReason,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? jobCatalog[name].attempts,
    stalledCount: job.stalledCounter ?? 0,
    stalled: state === 'failed' && failedReason === STALLED_TOO_OFTEN,
  };
}

/**
 * Removes a finished (completed or failed) job and adds the payload again under the same id: a new
 * run with fresh attempts. Refuses (returns false) when the job is not finished any more, e.g. an
 * operator retried it meanwhile, so a live job is never removed.
 */
export async function replaceFinishedJob<N extends JobName>(
  queues: JobQueues,
  name: N,
  data: JobData<N>,
): Promise<boolean> {
  const id = catalogJobId(name, data);
  if (!id) return false;
  const queue = queues.queue(queues.queueFor(name, data));
  const job = await queue.getJob(id);
  if (job) {
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return false;
    await job.remove();
  }
  await queues.add(name, data);
  return true;
}
