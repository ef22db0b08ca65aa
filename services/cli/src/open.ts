import { type Config, loadConfig } from '@fleet-backup/config';
import type { Clock } from '@fleet-backup/core';
import { openRuntime, type Runtime, startOnCatalog } from '@fleet-backup/runtime';
import { postgresUnreachable, probePostgres, settleRedis, watchRedis } from './reachability.ts';

/**
 * Runs fn with a runtime opened from the environment, and always closes it. Postgres or Redis
 * being down ends the command with exit 5 (see reachability.ts) instead of a stack or a hang;
 * `redis: false` is for long commands that never touch Redis (restore works in a Redis outage).
 */
export async function withRuntime<T>(
  fn: (rt: Runtime) => Promise<T>,
  opts: { migrate?: boolean; config?: Config; clock?: Clock; redis?: boolean } = {},
): Promise<T> {
  const config = opts.config ?? loadConfig();
  const rt = await openRuntime(config, {
    name: 'cli',
    migrate: opts.migrate ?? true,
    // Every command plans and describes with the installation's configuration, not a local file.
    catalog: true,
    ...(opts.clock ? { clock: opts.clock } : {}),
  }).catch((err: unknown) => {
    throw postgresUnreachable(err, config.databaseUrl);
  });
  const redis = opts.redis === false ? null : watchRedis(rt.redis, config.redisUrl);
  try {
    await probePostgres(rt.pool, config.databaseUrl);
    await startOnCatalog(rt, { applyFile: false });
    const work = fn(rt);
    work.catch(() => {}); // when Redis loses the race, the hung command must not crash the exit
    return await (redis ? Promise.race([work, redis.failed]) : work);
  } finally {
    redis?.stop();
    await settleRedis(rt.redis);
    await rt.close();
  }
}
