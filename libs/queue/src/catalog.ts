import { hostIdSchema, preChangeJobSchema } from '@fleet-backup/core';
import { z } from 'zod';

const backupId = z.uuid();
const target = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/);
/**
 * Present on the stage jobs of a pre_change backup: they go to the agent's urgent lane
 * (urgent.<host>) instead of host.<host>. The job id ignores it, so one stage has one id.
 */
const lane = z.literal('urgent').optional();

export interface JobDefinition<S extends z.ZodType> {
  /**
   * 'host' jobs go to the queue of data.host (its urgent lane when data.lane is 'urgent');
   * 'pool' jobs to the shared pool queue.
   */
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
    schema: z.strictObject({ backupId, host: hostIdSchema, lane }),
    jobId: (d) => `${d.backupId}.snapshot`,
    attempts: 5,
    backoffMs: 5_000,
    timeoutMs: 12 * HOUR,
  }),
  hash: define({
    queue: 'host',
    schema: z.strictObject({ backupId, host: hostIdSchema, lane }),
    jobId: (d) => `${d.backupId}.hash`,
    attempts: 5,
    backoffMs: 5_000,
    timeoutMs: 12 * HOUR,
  }),
  replicate: define({
    queue: 'host',
    schema: z.strictObject({ backupId, host: hostIdSchema, target, lane }),
    jobId: (d) => `${d.backupId}.replicate.${d.target}`,
    attempts: 8,
    backoffMs: 10_000,
    timeoutMs: 12 * HOUR,
  }),
  'refresh-metadata': define({
    queue: 'host',
    schema: z.strictObject({ host: hostIdSchema, backupId, lane }),
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
  /**
   * A host's daily, fired by its job scheduler `daily.<host>` (or added by hand): requests the
   * daily of the host's registered sources. No job id: a scheduler names its own jobs, and the
   * daily itself is idempotent on (host, UTC day) in Postgres, so duplicate triggers are harmless.
   */
  daily: define({
    queue: 'pool',
    schema: z.strictObject({ host: hostIdSchema }),
    attempts: 8,
    backoffMs: 30_000,
    timeoutMs: 5 * 60_000,
  }),
  // — pre-change intake (add entries here) —
  /**
   * Another service asks for a pre-change backup by queueing this on `pool`, with the HTTP
   * request's body plus an `id` it chose (a uuid), which becomes the backup's id: a queued job
   * has no response to return one. Adding it twice is a no-op (job id), and so is running it twice.
   */
  'pre-change': define({
    queue: 'pool',
    schema: preChangeJobSchema,
    jobId: (d) => `pre-change.${d.id}`,
    attempts: 8,
    backoffMs: 2_000,
    timeoutMs: 60_000,
  }),
  // — restore drills (add entries here) —
  /**
   * A host's restore drill, fired weekly by its job scheduler `drill.<host>` (or added by hand):
   * restores the newest verified backup from one verified copy on a target into a scratch
   * directory, checks every sha256 and every SQLite database, records the result in drill_runs and
   * deletes the scratch directory. A failing drill is a recorded result, not a job failure; the job
   * fails (and retries) only when the result cannot be recorded. No job id: the scheduler's id is
   * deterministic and BullMQ names each firing `repeat:drill.<host>:<time>`, so producers started
   * twice never fire one twice; and a drill run twice only restores twice.
   */
  drill: define({
    queue: 'pool',
    schema: z.strictObject({ host: hostIdSchema }),
    attempts: 3,
    backoffMs: 5 * 60_000,
    timeoutMs: 6 * HOUR,
  }),
  // — lifecycle: expire, retire, gc (add entries here) —
  /**
   * Removes the backups past their retention (the daily scheduler `lifecycle.expire`, or by hand).
   * Runs are serialised in Postgres, so overlapping jobs wait for each other.
   */
  expire: define({
    queue: 'pool',
    schema: z.strictObject({}),
    attempts: 5,
    backoffMs: 60_000,
    timeoutMs: 2 * HOUR,
  }),
  /**
   * The agent's part of removing a backup marked expiring or retiring: drop it from
   * backup_metadata.json, then delete BACKUP_ROOT/<key>. Refused for a backup not so marked.
   */
  'expire-local': define({
    queue: 'host',
    schema: z.strictObject({ backupId, host: hostIdSchema }),
    jobId: (d) => `${d.backupId}.expire-local`,
    attempts: 8,
    backoffMs: 10_000,
    timeoutMs: HOUR,
  }),
  /** Deletes blobs no backup references once the grace period is over; `scan` lists the buckets too. */
  gc: define({
    queue: 'pool',
    schema: z.strictObject({ scan: z.boolean().default(false) }),
    attempts: 3,
    backoffMs: 5 * 60_000,
    timeoutMs: 12 * HOUR,
  }),
  // — rot: re-reading and healing copies after verification (add entries here) —
  /**
   * Reads one target copy of a backup back in full, as verify does, and sets the copy verified or
   * corrupt (a corrupt copy that reads good again is verified again). Queued after a repair, and
   * by `fleet-backup verify`, which reads its VerifyCopyResult off the finished job: the pool holds
   * the targets' credentials, an operator's CLI need not. No job id: it must run after every
   * repair, and reading twice is harmless.
   */
  'verify-copy': define({
    queue: 'pool',
    schema: z.strictObject({
      backupId,
      host: hostIdSchema,
      target,
      /** Who asked, as its findings record it; the pipeline's own reads leave it out. */
      by: z.enum(['verify', 'cli']).optional(),
    }),
    attempts: 5,
    backoffMs: 30_000,
    timeoutMs: 12 * HOUR,
  }),
  /**
   * The agent reads one backup's local copy back in full; a file that reads bad marks the copy
   * corrupt and is fetched again from a verified target copy, then the copy is read again.
   * `checkId` lets `fleet-backup verify` find this run's result in the copy's detail.
   */
  'verify-local': define({
    queue: 'host',
    schema: z.strictObject({
      backupId,
      host: hostIdSchema,
      checkId: z.uuid().optional(),
      by: z.enum(['verify', 'recheck', 'drill', 'cli']).default('cli'),
    }),
    attempts: 3,
    backoffMs: 30_000,
    timeoutMs: 12 * HOUR,
  }),
  /**
   * Today's slice of the rolling re-read of one target: about 1/RECHECK_WINDOW_DAYS of its blobs
   * and manifests, oldest read first (scheduler `recheck.<target>`). What reads bad is marked, its
   * copies become corrupt, and a repair is queued.
   */
  recheck: define({
    queue: 'pool',
    schema: z.strictObject({ target }),
    attempts: 3,
    backoffMs: 10 * 60_000,
    timeoutMs: 12 * HOUR,
  }),
  /** The same for a host's local copies, on its agent (scheduler `recheck-local` on its queue). */
  'recheck-local': define({
    queue: 'host',
    schema: z.strictObject({ host: hostIdSchema }),
    attempts: 3,
    backoffMs: 10 * 60_000,
    timeoutMs: 12 * HOUR,
  }),
  /**
   * Replaces the blobs marked bad on a target with good bytes from another target (else asks the
   * agents holding them locally: repair-from-local), rewrites corrupt manifests, then reads the
   * target's corrupt copies again. Repairs of one target run one at a time.
   */
  repair: define({
    queue: 'pool',
    schema: z.strictObject({ target }),
    attempts: 5,
    backoffMs: 60_000,
    timeoutMs: 12 * HOUR,
  }),
  /** The agent uploads again, from its verified local copies, the blobs marked bad on a target. */
  'repair-from-local': define({
    queue: 'host',
    schema: z.strictObject({ host: hostIdSchema, target }),
    attempts: 5,
    backoffMs: 60_000,
    timeoutMs: 12 * HOUR,
  }),
} as const;

/** What a verify-copy job found: the copy's state after the read (null: backup being removed). */
export interface VerifyCopyResult {
  status: 'verified' | 'corrupt' | null;
  problems: { path: string; problem: string }[];
}

export type JobCatalog = typeof jobCatalog;
export type JobName = keyof JobCatalog;
export type JobData<N extends JobName> = z.infer<JobCatalog[N]['schema']>;

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}
