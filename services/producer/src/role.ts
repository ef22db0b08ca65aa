import { TokenStore } from '@fleet-backup/db';
import {
  finishForgets,
  type Runtime,
  reconcile,
  reconcileDailySchedulers,
  reconcileDrillSchedulers,
  reconcileLifecycleSchedulers,
  reconcileRecheckSchedulers,
  refreshConfig,
  syncConfiguredHosts,
} from '@fleet-backup/runtime';
import { checkBoardLogin } from './board-auth.ts';
import { BOARD_PATH } from './bull-board.ts';
import { buildServer } from './server.ts';

export interface Producer {
  url: string;
  boardUrl: string;
  close(): Promise<void>;
}

/**
 * The producer: registers configured hosts, serves the API and Bull Board, and every sweep (a
 * minute; RECONCILE_INTERVAL_MS) re-enqueues the next stage of unfinished backups, so work lost
 * from Redis is rebuilt from Postgres, records the jobs Redis failed without Postgres knowing,
 * finishes interrupted forgets, and keeps every job scheduler: one daily and one restore drill per
 * host, the lifecycle ones (expire, gc, gc-scan), and the re-check ones (one per target, one
 * per host).
 */
export async function startProducer(rt: Runtime, opts: { token: string | null }): Promise<Producer> {
  // Before anything else: a producer that cannot start its board must not half-start.
  const devWarning = await checkBoardLogin(rt.config, new TokenStore(rt.pool, rt.clock));
  if (devWarning) rt.log.warn(devWarning);
  await syncConfiguredHosts(rt);
  const { app, refreshBoard } = await buildServer(rt, opts);
  // Each step on its own: one failing (Redis or Postgres hiccup) does not skip the others.
  const steps: { failed: string; run: () => Promise<unknown> }[] = [
    // A version applied elsewhere (config apply) registered its hosts as it was stored; the
    // schedulers below follow it from this sweep on.
    {
      failed: 'reading the configuration failed; will try again',
      run: () => refreshConfig(rt),
    },
    {
      failed: 'reconcile failed; will try again',
      run: async () => {
        await reconcile(rt);
        await refreshBoard();
      },
    },
    // Hosts register themselves at any time; their schedulers follow within a sweep.
    {
      failed: 'reconciling daily schedulers failed; will try again',
      run: () => reconcileDailySchedulers(rt),
    },
    {
      failed: 'reconciling drill schedulers failed; will try again',
      run: () => reconcileDrillSchedulers(rt),
    },
    // Expire and gc run through their own job schedulers (deterministic ids: no duplicates). Every
    // sweep, not only at start: a Redis that lost them would otherwise stop expiry and gc silently.
    {
      failed: 'reconciling lifecycle schedulers failed; will try again',
      run: () => reconcileLifecycleSchedulers(rt),
    },
    // A forget whose copies are all gone, interrupted before its catalog rows were deleted.
    {
      failed: 'finishing forgotten backups failed; will try again',
      run: () => finishForgets(rt),
    },
    // The rolling re-read of every copy: one scheduler per target (pool) and per host (its agent).
    {
      failed: 'reconciling re-check schedulers failed; will try again',
      run: () => reconcileRecheckSchedulers(rt),
    },
  ];
  let sweeping = false;
  const sweep = async () => {
    // A sweep slower than the interval (a large fleet, a slow database) is not run twice at once.
    if (sweeping) return;
    sweeping = true;
    try {
      for (const step of steps) {
        try {
          await step.run();
        } catch (err) {
          rt.log.warn({ err }, step.failed);
        }
      }
    } finally {
      sweeping = false;
    }
  };
  await sweep();
  const timer = setInterval(() => void sweep(), rt.config.reconcileIntervalMs);
  timer.unref();
  const address = await app.listen({ port: rt.config.port, host: rt.config.bind });
  const url = address.replace('[::1]', 'localhost');
  return {
    url,
    boardUrl: `${url}${BOARD_PATH}`,
    async close() {
      clearInterval(timer);
      await app.close();
    },
  };
}
