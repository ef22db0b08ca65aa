import { type Config, createLogger, type Logger, prettyLogs, secretValues } from '@fleet-backup/config';
import { type Clock, NotFoundFailure, systemClock } from '@fleet-backup/core';
import {
  BackupStore,
  BlobIndex,
  createPool,
  ensureDatabase,
  HostStore,
  migrate,
  type Pool,
  pipelineState,
} from '@fleet-backup/db';
import { checkRedisSettings, createRedis, JobQueues } from '@fleet-backup/queue';
import type { Redis } from 'ioredis';
import { ProcessMetrics } from './metrics/process-metrics.ts';
import { nextJobs } from './pipeline.ts';
import { Targets } from './targets.ts';

/** Everything a role needs, opened once per process. */
export interface Runtime {
  config: Config;
  clock: Clock;
  log: Logger;
  pool: Pool;
  backups: BackupStore;
  hosts: HostStore;
  blobs: BlobIndex;
  redis: Redis;
  queues: JobQueues;
  targets: Targets;
  /** This process's Prometheus registry and the series its jobs feed. */
  metrics: ProcessMetrics;
  /** Enqueues whatever the backup needs next (idempotent); reads its stages, never its files. */
  advance(backupId: string): Promise<void>;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Appears in every log line. */
  name: string;
  /** Create the database and apply migrations first (roles that start services do). */
  migrate?: boolean;
  /** Warn loudly, once Redis answers, when its settings would lose queued jobs (service roles do). */
  checkRedis?: boolean;
  clock?: Clock;
  log?: Logger;
}

/** Opens Postgres, Redis and the configured targets. */
export async function openRuntime(config: Config, opts: RuntimeOptions): Promise<Runtime> {
  const clock = opts.clock ?? systemClock;
  const log =
    opts.log ??
    createLogger(config.logLevel, opts.name, {
      secrets: secretValues(config),
      pretty: prettyLogs(config.logFormat, process.stderr.isTTY === true),
    });
  if (opts.migrate) await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl);
  if (opts.migrate) {
    await migrate(pool, {
      onRetry: (err, attempt) =>
        log.warn({ err, attempt }, 'migrations cut off by a lost connection, retrying'),
    });
  }
  const redis = createRedis(config.redisUrl);
  // Not awaited: a producer starts (and reports not ready) while Redis is still down.
  if (opts.checkRedis) void checkRedisSettings(redis, log);
  const queues = new JobQueues(redis, config.queuePrefix);
  const backups = new BackupStore(pool, clock);
  const rt: Runtime = {
    config,
    clock,
    log,
    pool,
    backups,
    hosts: new HostStore(pool, clock),
    blobs: new BlobIndex(pool, clock),
    redis,
    queues,
    targets: new Targets(config.targets, {
      retry: { deadlineMs: config.targetRetryDeadlineMs },
      onRetry: (e) =>
        log.warn(
          { target: e.target, op: e.op, key: e.key, attempt: e.attempt, delayMs: e.delayMs, err: e.error },
          'target operation failed, retrying',
        ),
    }),
    metrics: new ProcessMetrics({ redis, pool }),
    async advance(backupId) {
      const state = await pipelineState(pool, backupId);
      if (!state) throw new NotFoundFailure(`backup ${backupId} does not exist`, { backupId });
      for (const job of nextJobs(state)) await queues.add(job.name, job.data);
    },
    async close() {
      await queues.close();
      redis.disconnect();
      await pool.end();
    },
  };
  return rt;
}
