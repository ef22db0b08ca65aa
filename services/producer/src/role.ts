import { TokenStore } from '@fleet-backup/db';
import {
  type Runtime,
  reconcile,
  reconcileDailySchedulers,
  reconcileDrillSchedulers,
  reconcileLifecycleSchedulers,
  reconcileRecheckSchedulers,
  syncConfiguredHosts,
} from '@fleet-backup/runtime';
import { checkBoardLogin } from './board-auth.ts';
import { BOARD_PATH } from './bull-board.ts';
import { buildServer } from './server.ts';

const RECONCILE_MS = 60_000;

export interface Producer {
  url: string;
  boardUrl: string;
  close(): Promise<void>;
}

/**
 * The producer: registers configured hosts, serves the API and Bull Board, and every minute
 * re-enqueues the next stage of unfinished backups, so work lost from Redis is rebuilt from Postgres,
 * and keeps one daily and one restore-drill scheduler per host, and the re-check schedulers.
 */
export async function startProducer(rt: Runtime, opts: { token: string | null }): Promise<Producer> {
  // Before anything else: a producer that cannot start its board must not half-start.
  const devWarning = await checkBoardLogin(rt.config, new TokenStore(rt.pool, rt.clock));
  if (devWarning) rt.log.warn(devWarning);
  await syncConfiguredHosts(rt);
  // Expire and gc run daily through their own job schedulers (deterministic ids: no duplicates).
  await reconcileLifecycleSchedulers(rt);
  const { app, refreshBoard } = await buildServer(rt, opts);
  // Each step on its own: one failing (Redis or Postgres hiccup) does not skip the others.
  const steps: { failed: string; run: () => Promise<unknown> }[] = [
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
    // The rolling re-read of every copy: one scheduler per target (pool) and per host (its agent).
    {
      failed: 'reconciling re-check schedulers failed; will try again',
      run: () => reconcileRecheckSchedulers(rt),
    },
  ];
  const sweep = async () => {
    for (const step of steps) {
      try {
        await step.run();
      } catch (err) {
        rt.log.warn({ err }, step.failed);
      }
    }
  };
  await sweep();
  const timer = setInterval(() => void sweep(), RECONCILE_MS);
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
