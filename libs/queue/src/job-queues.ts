import { BadInputError, describeIssues, hostIdSchema } from '@fleet-backup/core';
import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type JobData, type JobName, jobCatalog } from './catalog.ts';
import { hostQueueName, POOL_QUEUE, urgentQueueName } from './names.ts';

const DAY_S = 86_400;

/** Validates a catalog job's payload; the error names the job. */
export function parseJobData<N extends JobName>(name: N, data: JobData<N>): JobData<N> {
  const parsed = jobCatalog[name].schema.safeParse(data);
  if (!parsed.success) throw new BadInputError(`invalid ${name} job: ${describeIssues(parsed.error)}`);
  return parsed.data as JobData<N>;
}

/** The catalog's retry and retention policy for a job, shared by direct adds and schedulers. */
export function jobOptions(name: JobName): JobsOptions {
  const def = jobCatalog[name];
  return {
    attempts: def.attempts,
    backoff: { type: 'exponential', delay: def.backoffMs },
    // Kept long enough that a late duplicate add with the same id stays a no-op.
    removeOnComplete: { age: 7 * DAY_S, count: 5000 },
    removeOnFail: { age: 30 * DAY_S },
  };
}

/** Adds catalog jobs to their queues, validating each payload first. */
export class JobQueues {
  private readonly queues = new Map<string, Queue>();
  private readonly connection: Redis;
  private readonly prefix: string;

  constructor(connection: Redis, prefix: string) {
    this.connection = connection;
    this.prefix = prefix;
  }

  /** The queue a job goes to: its host's queue (or that host's urgent lane), or the pool queue. */
  queueFor<N extends JobName>(name: N, data: JobData<N>): string {
    const def = jobCatalog[name];
    if (def.queue === 'pool') return POOL_QUEUE;
    const { host, lane } = data as { host: string; lane?: unknown };
    const id = hostIdSchema.parse(host);
    return lane === 'urgent' ? urgentQueueName(id) : hostQueueName(id);
  }

  /** Validates and adds a job; with a deterministic id, adding it twice is a no-op. */
  async add<N extends JobName>(name: N, data: JobData<N>): Promise<string> {
    const payload = parseJobData(name, data);
    const jobId = (jobCatalog[name].jobId as ((d: JobData<N>) => string) | undefined)?.(payload);
    const job = await this.queue(this.queueFor(name, payload)).add(name, payload, {
      jobId,
      ...jobOptions(name),
    });
    return job.id ?? '';
  }

  /** A Queue handle (cached), e.g. for Bull Board or inspection. */
  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
