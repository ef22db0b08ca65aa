import { PermanentFailure, STAGES, type StageName } from '@fleet-backup/core';
import type { BackupRow, BackupStore, Queryable } from '@fleet-backup/db';
import type { FailureReport, JobContext } from '@fleet-backup/queue';

/** What every stage is given besides its input: never the whole Runtime. */
export interface StagePorts {
  /** The backup's row, read before the claim. */
  backup: BackupRow;
  /** Fires on timeout, cancellation and shutdown; pass it to every stream. */
  signal: AbortSignal;
  log: JobContext['log'];
  /** Where the work stands (files, blobs): call it per item, it is throttled. */
  progress(done: number, total: number): void;
}

/** A stage job's payload, as far as the runner cares. */
export interface StageInput {
  backupId: string;
  /** The target of a replicate or verify; absent for snapshot and hash. */
  target?: string;
}

/**
 * One pipeline stage, written as its parts; `runStage` owns the protocol around them (claim,
 * commit transaction, after-commit work, what follows). W is what the work found, C what the
 * commit returns to the after-commit step.
 */
export interface StageSpec<I extends StageInput, W, C = void> {
  stage: StageName;
  /** Refuses, by throwing, a backup this process must not touch (an agent's own-host check). */
  accept?(backup: BackupRow): void;
  /** The data work, outside any transaction. Idempotent: a redelivery runs it again from scratch. */
  work(input: I, ports: StagePorts): Promise<W>;
  /** Writes what the work found, in the transaction holding the backup's lock; the stage is marked done in it too. */
  commit(tx: Queryable, found: W, ports: StagePorts): Promise<C>;
  /** Runs only once the commit is durable: files outside Postgres (backup_metadata.json), logs, metrics, follow-up jobs. */
  afterCommit?(found: W, committed: C, ports: StagePorts): Promise<void>;
  /** What follows, on every delivery (a finished stage's redelivery too). Default: advance the pipeline. */
  next?(backup: BackupRow, input: I): Promise<void>;
}

/** What the runner needs from the process: the store and the pipeline's advance (stages only). */
export interface StageRunnerDeps {
  backups: Pick<BackupStore, 'require' | 'startStage' | 'transaction' | 'lock' | 'finishStage'>;
  advance(backupId: string): Promise<void>;
}

/** ran: this delivery did the work; done: an earlier one had; ended: the backup is expiring or retiring. */
export type StageOutcome = 'ran' | 'done' | 'ended';

const PROGRESS_EVERY_MS = 1_000;

/**
 * Runs one delivery of a stage: requires the backup, lets the stage refuse it, claims the stage
 * (a stage already done is not run again: at-least-once delivery becomes exactly-once work),
 * does the work, commits its result and the stage's end in one transaction under the backup's
 * lock, then the after-commit work, then advances with a query that reads stages only. A failure
 * anywhere propagates to the stage worker, whose failure hook is `recordStageFailure`.
 */
export async function runStage<I extends StageInput, W, C>(
  deps: StageRunnerDeps,
  spec: StageSpec<I, W, C>,
  input: I,
  ctx: Pick<JobContext, 'signal' | 'log'> & { progress?: JobContext['progress'] },
): Promise<StageOutcome> {
  const backup = await deps.backups.require(input.backupId);
  spec.accept?.(backup);
  const target = input.target ?? '';
  const claim = await deps.backups.startStage(backup.id, spec.stage, target);
  if (claim === 'started') {
    const ports: StagePorts = { backup, signal: ctx.signal, log: ctx.log, progress: throttled(ctx.progress) };
    const began = performance.now();
    const found = await spec.work(input, ports);
    const worked = performance.now();
    const committed = await deps.backups.transaction(async (tx) => {
      await deps.backups.lock(backup.id, tx);
      const c = await spec.commit(tx, found, ports);
      await deps.backups.finishStage(tx, backup.id, spec.stage, target);
      return c;
    });
    const commitDone = performance.now();
    await spec.afterCommit?.(found, committed, ports);
    // Where a stage's time went, for whoever profiles a slow one.
    ctx.log.debug(
      {
        stage: spec.stage,
        target,
        workMs: Math.round(worked - began),
        commitMs: Math.round(commitDone - worked),
        afterCommitMs: Math.round(performance.now() - commitDone),
        // The process's peak so far (MB): the stage that raised it is the one to look at.
        peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      },
      'stage finished',
    );
  }
  await (spec.next ? spec.next(backup, input) : deps.advance(backup.id));
  return claim === 'started' ? 'ran' : claim;
}

/** A progress port that reports at most once a second (and always the last item), never failing the stage. */
function throttled(report: JobContext['progress'] | undefined): StagePorts['progress'] {
  if (!report) return () => {};
  let last = 0;
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    void report({ done, total }).catch(() => {});
  };
}

/**
 * Writes a stage's failure to Postgres, so `show` and the API say what went wrong and where: the
 * stage workers' failure hook. When Postgres cannot be reached this throws, and the stage worker
 * logs "could not record the failure"; a final failure lost so is recorded later by the
 * reconciler, from the job BullMQ keeps in failed.
 */
export async function recordStageFailure(
  backups: Pick<BackupStore, 'get' | 'failStage'>,
  { name, data, error, final }: FailureReport,
): Promise<void> {
  if (!(STAGES as readonly string[]).includes(name)) return;
  const stage = name as StageName;
  const { backupId, target } = (data ?? {}) as { backupId?: unknown; target?: unknown };
  if (typeof backupId !== 'string') return;
  // A backup forgotten meanwhile (or a malformed id) has nothing to record on.
  if (!(await backups.get(backupId))) return;
  const message =
    error instanceof PermanentFailure || final ? error.message : `${error.message} (will retry)`;
  await backups.failStage(backupId, stage, typeof target === 'string' ? target : '', message, final);
}
