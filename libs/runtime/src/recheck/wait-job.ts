import type { Runtime } from '../runtime.ts';

export type JobOutcome =
  | { state: 'completed'; value: unknown }
  | { state: 'failed'; reason: string }
  /** An attempt failed and the job waits for its next: it stays queued. */
  | { state: 'retrying'; reason: string }
  | { state: 'timeout' };

/**
 * Waits for a job on a queue to finish, polling its state: how a command waits for work only an
 * agent can do (reading a host's local copy). A job still waiting or retrying when the time is up
 * is left queued: its agent runs it when it comes back.
 */
export async function waitForJob(
  rt: Runtime,
  queueName: string,
  jobId: string,
  timeoutMs: number,
): Promise<JobOutcome> {
  const queue = rt.queues.queue(queueName);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const job = await queue.getJob(jobId);
    const state = job ? await job.getState() : 'unknown';
    if (state === 'completed') return { state, value: job?.returnvalue };
    if (state === 'failed') return { state, reason: job?.failedReason ?? 'failed' };
    if (state === 'delayed' && job?.attemptsMade && job.failedReason)
      return { state: 'retrying', reason: job.failedReason };
    if (performance.now() > deadline) return { state: 'timeout' };
    await new Promise((r) => setTimeout(r, 300));
  }
}
