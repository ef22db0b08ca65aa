import { describeIssues, PermanentFailure } from '@fleet-backup/core';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isJobName, type JobData, type JobName, jobCatalog } from './catalog.ts';

export interface JobContext {
  jobId: string;
  /** 1 for the first delivery. */
  attempt: number;
  maxAttempts: number;
  /** Fires on timeout, on cancellation and when the process shuts down; pass it to streams. */
  signal: AbortSignal;
  log: Logger;
  /** Stores where the job stands on the job itself (Bull Board shows it); callers throttle. */
  progress?: (value: { done: number; total: number }) => Promise<void>;
}

/**
 * What a handler returns is kept on the finished job (BullMQ's return value): how a command that
 * queued the job learns what it found (`fleet-backup verify` reading a target copy on the pool).
 */
export type Handler<N extends JobName> = (data: JobData<N>, ctx: JobContext) => Promise<unknown>;
export type Handlers = { [N in JobName]?: Handler<N> };

export interface FailureReport {
  name: JobName;
  data: unknown;
  error: Error;
  /** True when no retry will follow (attempts used up, or the error is permanent). */
  final: boolean;
}

export interface StageWorkerOptions {
  queue: string;
  connection: Redis;
  prefix: string;
  handlers: Handlers;
  log: Logger;
  concurrency?: number;
  lockDurationMs?: number;
  /** How long shutdown waits for active jobs before releasing them back to the queue. */
  shutdownGraceMs?: number;
  onFailure?: (report: FailureReport) => Promise<void>;
  /** Told of every stage event as it is logged (metrics); must not throw. */
  onStageEvent?: (event: StageEvent) => void;
}

/** released: handed back untouched at shutdown, to run again elsewhere without spending an attempt. */
export type StageEventKind = 'started' | 'done' | 'retrying' | 'failed' | 'released';

export interface StageEvent {
  event: StageEventKind;
  stage: JobName;
  queue: string;
  /** How long this attempt ran; 0 on `started`. */
  durationMs: number;
}

const SHUTDOWN = 'process shutting down';

/**
 * A BullMQ worker running catalog handlers: it validates payloads, gives handlers an
 * AbortSignal, turns permanent failures into UnrecoverableError, and on shutdown releases
 * jobs it cannot finish in time instead of failing them.
 */
export class StageWorker {
  private readonly worker: Worker;
  private readonly opts: StageWorkerOptions;

  constructor(opts: StageWorkerOptions) {
    this.opts = opts;
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.worker = new Worker(opts.queue, (job, token, signal) => this.process(job, token, signal), {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency ?? 1,
      lockDuration,
      stalledInterval: lockDuration,
      // A SIGKILLed agent stalls its job once; allow a few such crashes before giving up on it.
      maxStalledCount: 3,
    });
    this.worker.on('error', (err) => opts.log.warn({ err, queue: opts.queue }, 'worker connection error'));
  }

  private async process(
    job: Job,
    token: string | undefined,
    cancel: AbortSignal | undefined,
  ): Promise<unknown> {
    if (!isJobName(job.name) || !this.opts.handlers[job.name]) {
      throw new UnrecoverableError(`no handler for job "${job.name}" on queue ${this.opts.queue}`);
    }
    const name = job.name;
    const attempt = job.attemptsMade + 1;
    // Every line of this job, the stage events and whatever the handler logs, names what it is about.
    const log = this.opts.log.child({
      queue: this.opts.queue,
      stage: name,
      jobId: job.id,
      attempt,
      ...jobSubject(job.data, this.opts.log.bindings()),
    });
    const def = jobCatalog[name];
    const maxAttempts = job.opts.attempts ?? def.attempts;
    const signals = [AbortSignal.timeout(def.timeoutMs), ...(cancel ? [cancel] : [])];
    const signal = AbortSignal.any(signals);
    const startedAt = performance.now();
    const emit = (event: StageEventKind): number => {
      const durationMs = event === 'started' ? 0 : Math.round(performance.now() - startedAt);
      try {
        this.opts.onStageEvent?.({ event, stage: name, queue: this.opts.queue, durationMs });
      } catch (err) {
        log.warn({ err }, 'stage event hook failed');
      }
      return durationMs;
    };
    emit('started');
    log.info({ event: 'started' }, 'stage started');
    try {
      const parsed = def.schema.safeParse(job.data);
      if (!parsed.success) {
        throw new PermanentFailure(`malformed ${name} payload: ${describeIssues(parsed.error)}`, {
          data: job.data,
        });
      }
      const handler = this.opts.handlers[name] as Handler<typeof name>;
      const result = await handler(parsed.data as JobData<typeof name>, {
        jobId: job.id ?? '',
        attempt,
        maxAttempts,
        signal,
        log,
        progress: (value) => job.updateProgress(value),
      });
      log.info({ event: 'done', durationMs: emit('done') }, 'stage done');
      return result;
    } catch (raw) {
      const error = raw instanceof Error ? raw : new Error(String(raw));
      if (cancel?.aborted && cancel.reason === SHUTDOWN && token) {
        // Not the job's fault: hand it back untouched, without spending an attempt.
        log.info({ event: 'released', durationMs: emit('released') }, 'stage released at shutdown');
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      const permanent = isPermanent(error);
      const final = permanent || attempt >= maxAttempts;
      const event = final ? 'failed' : 'retrying';
      log.error(
        { event, durationMs: emit(event), maxAttempts, err: error },
        final ? 'stage failed for good' : 'stage failed, will retry',
      );
      await this.opts.onFailure?.({ name, data: job.data, error, final }).catch((err) => {
        log.error({ err }, 'could not record the failure');
      });
      throw permanent ? new UnrecoverableError(error.message) : error;
    }
  }

  /** Waits until the worker is connected and consuming. */
  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  /** Finishes active jobs within the grace period, releases the rest, and closes connections. */
  async close(): Promise<void> {
    const grace = this.opts.shutdownGraceMs ?? 20_000;
    const timer = setTimeout(() => this.worker.cancelAllJobs(SHUTDOWN), grace);
    try {
      await this.worker.close();
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A failure no retry can fix: our PermanentFailure, or an error flagged non-transient (storage). */
export function isPermanent(error: Error): boolean {
  if (error instanceof PermanentFailure || error instanceof UnrecoverableError) return true;
  return (error as { transient?: unknown }).transient === false;
}

/** The backup, host and target a job is about, read from its raw data (before validation, so a malformed job's lines carry them too). */
function jobSubject(
  data: unknown,
  bound: Record<string, unknown>,
): { backupId?: string; host?: string; target?: string } {
  const d = (data ?? {}) as Record<string, unknown>;
  // A key the parent logger already carries with the same value (an agent's host) is not repeated.
  const pick = (key: string) =>
    typeof d[key] === 'string' && bound[key] !== d[key] ? { [key]: d[key] as string } : {};
  return { ...pick('backupId'), ...pick('host'), ...pick('target') };
}
