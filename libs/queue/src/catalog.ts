import { hostIdSchema } from '@fleet-backup/core';
import { z } from 'zod';

const backupId = z.uuid();
const target = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/);

export interface JobDefinition<S extends z.ZodType> {
  /** 'host' jobs go to the queue of data.host; 'pool' jobs to the shared pool queue. */
  queue: 'host' | 'pool';
  schema: S;
  /**
   * Deterministic id: adding a job whose id exists is a no-op, which dedupes redelivery and
   * reconciling. Absent for jobs that are cheap and must run after every change.
   */
  jobId?: (data: z.infer<S>) => string;
  attempts: number;
  /** Exponential backoff base. */
  backoffMs: number;
  /** The handler's AbortSignal fires after this long. */
  timeoutMs: number;
}

function define<S extends z.ZodType>(def: JobDefinition<S>): JobDefinition<S> {
  return def;
}

const HOUR = 3_600_000;

/**
 * Every job in the system: its queue, payload schema, id, retry policy and timeout. Other
 * services may enqueue these with the documented schemas; workers validate every payload.
 */
export const jobCatalog = {
  snapshot: define({
    queue: 'host',
    schema: z.strictObject({ backupId, host: hostIdSchema }),
    jobId: (d) => `${d.backupId}.snapshot`,
    attempts: 5,
    backoffMs: 5_000,
    timeoutMs: 12 * HOUR,
  }),
  hash: define({
    queue: 'host',
    schema: z.strictObject({ backupId, host: hostIdSchema }),
    jobId: (d) => `${d.backupId}.hash`,
    attempts: 5,
    backoffMs: 5_000,
    timeoutMs: 12 * HOUR,
  }),
  replicate: define({
    queue: 'host',
    schema: z.strictObject({ backupId, host: hostIdSchema, target }),
    jobId: (d) => `${d.backupId}.replicate.${d.target}`,
    attempts: 8,
    backoffMs: 10_000,
    timeoutMs: 12 * HOUR,
  }),
  'refresh-metadata': define({
    queue: 'host',
    schema: z.strictObject({ host: hostIdSchema, backupId }),
    attempts: 5,
    backoffMs: 2_000,
    timeoutMs: HOUR,
  }),
  verify: define({
    queue: 'pool',
    schema: z.strictObject({ backupId, host: hostIdSchema, target }),
    jobId: (d) => `${d.backupId}.verify.${d.target}`,
    attempts: 8,
    backoffMs: 10_000,
    timeoutMs: 12 * HOUR,
  }),
  // — fleet: daily schedulers (add entries here) —
  // — pre-change intake (add entries here) —
  // — lifecycle: expire, retire, gc (add entries here) —
} as const;

export type JobCatalog = typeof jobCatalog;
export type JobName = keyof JobCatalog;
export type JobData<N extends JobName> = z.infer<JobCatalog[N]['schema']>;

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}
