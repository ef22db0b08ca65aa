import type { JobData, JobName } from './catalog.ts';
import { type JobQueues, jobOptions, parseJobData } from './job-queues.ts';

/** When a scheduler fires: a five-field cron pattern in an IANA zone. */
export interface CronSpec {
  pattern: string;
  tz: string;
}

export interface SchedulerInfo {
  id: string;
  /** The job name its template produces. */
  name: string;
  pattern: string | null;
  tz: string | null;
  /** When its next job is due. */
  next: Date | null;
  data: unknown;
}

/**
 * BullMQ job schedulers for catalog jobs. The id is the caller's and deterministic, so however
 * many producers upsert the same scheduler, Redis holds one, with one pending job.
 */
export class JobSchedulers {
  private readonly queues: JobQueues;

  constructor(queues: JobQueues) {
    this.queues = queues;
  }

  /** Creates or updates a scheduler whose jobs carry the catalog's retry policy. */
  async upsert<N extends JobName>(id: string, spec: CronSpec, name: N, data: JobData<N>): Promise<void> {
    const payload = parseJobData(name, data);
    await this.queues
      .queue(this.queues.queueFor(name, payload))
      .upsertJobScheduler(
        id,
        { pattern: spec.pattern, tz: spec.tz },
        { name, data: payload, opts: jobOptions(name) },
      );
  }

  /** The schedulers of a queue whose id starts with prefix. */
  async list(queue: string, prefix = ''): Promise<SchedulerInfo[]> {
    const all = await this.queues.queue(queue).getJobSchedulers();
    return all
      .filter((s) => s.key.startsWith(prefix))
      .map((s) => ({
        id: s.key,
        name: s.name,
        pattern: s.pattern ?? null,
        tz: s.tz ?? null,
        next: typeof s.next === 'number' ? new Date(s.next) : null,
        data: s.template?.data ?? null,
      }));
  }

  /** Removes a scheduler and its pending job; false when there was none. */
  remove(queue: string, id: string): Promise<boolean> {
    return this.queues.queue(queue).removeJobScheduler(id);
  }
}
