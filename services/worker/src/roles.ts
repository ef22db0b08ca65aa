import type { HostConfig } from '@fleet-backup/config';
import {
  type Handler,
  type Handlers,
  hostQueueName,
  type JobName,
  POOL_QUEUE,
  StageWorker,
  urgentQueueName,
} from '@fleet-backup/queue';
import { agentRegistration, type Runtime, recordStageFailure, refreshConfig } from '@fleet-backup/runtime';
import type { AgentEnv } from './agent-env.ts';
import { sweepStaging } from './capture/system-state.ts';
import { writeHostMetadataFile } from './metadata-file.ts';
import { daily } from './stages/daily.ts';
import { drill } from './stages/drill.ts';
import { expireLocal } from './stages/expire-local.ts';
import { hash } from './stages/hash.ts';
import { expireJob, gcJob } from './stages/lifecycle-jobs.ts';
import { preChange } from './stages/pre-change.ts';
import { recheckTarget, verifyCopy } from './stages/recheck.ts';
import { recheckLocal, verifyLocal } from './stages/recheck-local.ts';
import { repair, repairFromLocal } from './stages/repair.ts';
import { replicate } from './stages/replicate.ts';
import { snapshot } from './stages/snapshot.ts';
import { verify } from './stages/verify.ts';

const HEARTBEAT_MS = 60_000;
/** Pre-changes of one host run one at a time: they are small, and each must start at once. */
const URGENT_CONCURRENCY = 1;

/** Something that runs until closed. */
export interface Role {
  close(): Promise<void>;
}

/**
 * The host agent: the only consumer of host.<id> and urgent.<id>, so the only process that reads
 * that host's files and backup root. Registers the host and keeps its last-seen time fresh.
 * Two lanes: host.<id> runs dailies, manuals and upkeep with `agentConcurrency`; urgent.<id> runs
 * the stages (and metadata refreshes) of pre_change backups with a concurrency of its own (1), so a deploy starts within
 * seconds even while a daily of hours holds the other lane. Memory: each lane's jobs bound their
 * own buffers, so the agent's peak is that of agentConcurrency + 1 jobs.
 */
export async function startAgent(rt: Runtime, host: string, backupRoot: string): Promise<Role> {
  const env: AgentEnv = {
    rt,
    host,
    // Read at each use: a new configuration version (a source added) applies from the next job.
    get hostConfig(): HostConfig {
      return rt.config.hosts[host] ?? { sources: [], labels: {} };
    },
    backupRoot,
  };
  // At start, and again when a new configuration version comes (labels, zone, daily time).
  const register = () => rt.hosts.register(host, agentRegistration(rt.config, host)).then(() => {});
  await sweepStaging(backupRoot);
  await register();
  const heartbeat = setInterval(() => void rt.hosts.touch(host).catch(() => {}), HEARTBEAT_MS);
  heartbeat.unref();
  const stages: Handlers = {
    snapshot: (data, ctx) => snapshot(env, data, ctx),
    hash: (data, ctx) => hash(env, data, ctx),
    replicate: (data, ctx) => replicate(env, data, ctx),
    // Writes are serialised in-process (metadata-file.ts), so both lanes may ask at once.
    'refresh-metadata': async () => {
      await writeHostMetadataFile(rt.pool, host, backupRoot);
    },
  };
  const log = rt.log.child({ role: 'agent', host });
  const lane = (queue: string, concurrency: number, handlers: Handlers) =>
    new StageWorker({
      queue,
      connection: rt.redis,
      prefix: rt.config.queuePrefix,
      log,
      concurrency,
      lockDurationMs: rt.config.lockDurationMs,
      handlers: onNewestConfig(rt, handlers, register),
      onFailure: (report) => recordStageFailure(rt.backups, report),
      onStageEvent: rt.metrics.observeStage,
    });
  const workers = [
    lane(hostQueueName(host), rt.config.agentConcurrency, {
      ...stages,
      'expire-local': (data, ctx) => expireLocal(env, data, ctx),
      // Rot: the local copy re-read (in full, or today's slice) and healed; blobs sent again.
      'verify-local': (data, ctx) => verifyLocal(env, data, ctx),
      'recheck-local': (data, ctx) => recheckLocal(env, data, ctx),
      'repair-from-local': (data, ctx) => repairFromLocal(env, data, ctx),
    }),
    lane(urgentQueueName(host), URGENT_CONCURRENCY, stages),
  ];
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  rt.log.info(
    { host, queue: hostQueueName(host), urgentQueue: urgentQueueName(host), backupRoot },
    'agent ready',
  );
  return {
    async close() {
      clearInterval(heartbeat);
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}

/** A pool worker: stages that need only the targets and Postgres. Run as many as you like. */
export async function startPoolWorker(rt: Runtime, concurrency = 4): Promise<Role> {
  const worker = new StageWorker({
    queue: POOL_QUEUE,
    connection: rt.redis,
    prefix: rt.config.queuePrefix,
    log: rt.log.child({ role: 'worker' }),
    concurrency,
    lockDurationMs: rt.config.lockDurationMs,
    handlers: onNewestConfig(rt, {
      verify: (data, ctx) => verify(rt, data, ctx),
      'pre-change': (data, ctx) => preChange(rt, data, ctx),
      daily: (data, ctx) => daily(rt, data, ctx),
      drill: (data, ctx) => drill(rt, data, ctx),
      expire: (data, ctx) => expireJob(rt, data, ctx),
      gc: (data, ctx) => gcJob(rt, data, ctx),
      // Rot: target copies re-read (in full, or today's slice) and repaired.
      'verify-copy': (data, ctx) => verifyCopy(rt, data, ctx),
      recheck: (data, ctx) => recheckTarget(rt, data, ctx),
      repair: (data, ctx) => repair(rt, data, ctx),
    }),
    onFailure: (report) => recordStageFailure(rt.backups, report),
    onStageEvent: rt.metrics.observeStage,
  });
  await worker.waitUntilReady();
  rt.log.info({ queue: POOL_QUEUE, concurrency }, 'worker ready');
  return { close: () => worker.close() };
}

/**
 * The handlers, each first taking the catalog's newest configuration version (one cheap query
 * when unchanged), so a job runs on what was applied before it started, without a restart.
 */
function onNewestConfig(rt: Runtime, handlers: Handlers, onChange?: () => Promise<void>): Handlers {
  const fresh =
    (handler: Handler<JobName>): Handler<JobName> =>
    async (data, ctx) => {
      if ((await refreshConfig(rt)) && onChange) await onChange();
      return handler(data, ctx);
    };
  return Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [name, fresh(handler as Handler<JobName>)]),
  ) as Handlers;
}
