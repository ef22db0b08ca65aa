import type { JobQueues } from '@fleet-backup/queue';

export interface QueueCounts {
  queue: string;
  /** Jobs by BullMQ state (waiting, active, delayed, failed, completed, paused, prioritized, waiting-children). */
  counts: Record<string, number>;
  /** Ready to run and waiting for a worker. */
  depth: number;
}

// In flight at once: a fleet of 500 hosts is 500 small Lua calls, pipelined on one connection.
const PARALLEL = 64;

/** BullMQ's job counts of each queue: one script call per queue, so cheap even for hundreds of hosts. */
export async function readQueueCounts(queues: JobQueues, names: string[]): Promise<QueueCounts[]> {
  const out: QueueCounts[] = [];
  for (let i = 0; i < names.length; i += PARALLEL) {
    const batch = names.slice(i, i + PARALLEL);
    const counts = await Promise.all(batch.map((name) => queues.queue(name).getJobCounts()));
    batch.forEach((queue, j) => {
      const c = counts[j] ?? {};
      out.push({ queue, counts: c, depth: (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0) });
    });
  }
  return out;
}
