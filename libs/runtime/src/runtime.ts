import { type Config, createLogger, type Logger, prettyLogs, secretValues } from '@fleet-backup/config';
import { type Clock, NotFoundFailure, systemClock } from '@fleet-backup/core';
import {
  BackupStore,
  BlobIndex,
  ConfigStore,
  createPool,
  DataKeys,
  ensureDatabase,
  HostStore,
  migrate,
  type Pool,
  pipelineState,
} from '@fleet-backup/db';
import { checkRedisSettings, createRedis, JobQueues } from '@fleet-backup/queue';
import { SealingKeys } from '@fleet-backup/storage';
import type { Redis } from 'ioredis';
import { ProcessMetrics } from './metrics/process-metrics.ts';
import { nextJobs } from './pipeline.ts';
import { Targets } from './targets.ts';

/** Everything a role needs, opened once per process. */
export interface Runtime {
  /** This process's settings and the configuration document it runs on (the catalog's version). */
  config: Config;
  /** Whether `config` follows the catalog's newest configuration version (RuntimeOptions.catalog). */
  catalog: boolean;
  /** The catalog's configuration version `config` holds; null: none applied, or not read from the catalog. */
  configVersion: number | null;
  /** Runs on `config` from now on (targets rebuilt): refreshConfig's step. */
  useConfig(config: Config, version: number | null): void;
  configs: ConfigStore;
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
  /**
   * Run on the catalog's newest configuration version (every role and command does): read by
   * refreshConfig (catalog-config.ts) right after opening and before every job and plan. Without
   * it the config given is used as is (in-process tests).
   */
  catalog?: boolean;
}

/** Opens Postgres, Redis and the configured targets. */
export async function openRuntime(config: Config, opts: RuntimeOptions): Promise<Runtime> {
  const clock = opts.clock ?? systemClock;
  // Recomputed with each configuration version: its targets may name other credentials.
  let secrets = secretValues(config);
  const log =
    opts.log ??
    createLogger(config.logLevel, opts.name, {
      secrets: () => secrets,
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
  // One data key per installation, kept wrapped in the catalog (storage/sealed/keys.ts).
  const sealing = new SealingKeys(new DataKeys(pool), config.encryption);
  const targets = (c: Config) =>
    new Targets(c.targets, {
      sealing,
      retry: { deadlineMs: c.targetRetryDeadlineMs },
      onRetry: (e) =>
        log.warn(
          { target: e.target, op: e.op, key: e.key, attempt: e.attempt, delayMs: e.delayMs, err: e.error },
          'target operation failed, retrying',
        ),
    });
  const rt: Runtime = {
    config,
    catalog: opts.catalog === true,
    configVersion: null,
    useConfig(next, version) {
      secrets = secretValues(next);
      rt.config = next;
      rt.configVersion = version;
      rt.targets = targets(next);
    },
    configs: new ConfigStore(pool, clock),
    clock,
    log,
    pool,
    backups,
    hosts: new HostStore(pool, clock),
    blobs: new BlobIndex(pool, clock),
    redis,
    queues,
    targets: targets(config),
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
