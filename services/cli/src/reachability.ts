import type { Pool } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import { describe, isConnectionFailure, serviceAddress, UnreachableError } from './exit.ts';

/**
 * How long a command waits for Redis before telling the operator it is down. Services wait
 * forever (BullMQ needs `maxRetriesPerRequest: null`); a person at a terminal needs an answer,
 * and a few seconds covers a Redis that is restarting.
 */
export const REDIS_PATIENCE_MS = 5_000;

/** Rethrows a connection failure as "Postgres is unreachable" (exit 5); other errors as they are. */
export function postgresUnreachable(err: unknown, databaseUrl: string): unknown {
  if (!isConnectionFailure(err)) return err;
  return new UnreachableError('Postgres', serviceAddress(databaseUrl), describe(err as Error));
}

/** One cheap query, so a Postgres that is down fails the command at once with exit 5. */
export async function probePostgres(pool: Pool, databaseUrl: string): Promise<void> {
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    throw postgresUnreachable(err, databaseUrl);
  }
}

export interface RedisWatch {
  /** Rejects with an UnreachableError when Redis was not reachable within `patienceMs`. */
  failed: Promise<never>;
  stop(): void;
}

/**
 * Watches the start of a command's Redis connection: a Redis that never answers fails the
 * command with exit 5 instead of leaving it hanging. Once connected, later outages are left to
 * ioredis' reconnects, as in the services (a `backup --wait` outlives a Redis restart).
 */
export function watchRedis(
  redis: Runtime['redis'],
  redisUrl: string,
  patienceMs = REDIS_PATIENCE_MS,
): RedisWatch {
  let lastError = 'no answer';
  const onError = (err: Error) => {
    lastError = (err as { code?: string }).code ?? err.message;
  };
  redis.on('error', onError);
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (redis.status === 'ready') return stop();
      if (Date.now() - started < patienceMs) return;
      stop();
      reject(new UnreachableError('Redis', serviceAddress(redisUrl), lastError));
    }, 100);
  });
  // Nobody may be racing it when the command ends first.
  failed.catch(() => {});
  function stop() {
    clearInterval(timer);
    redis.off('error', onError);
  }
  return { failed, stop };
}

/** How long a finishing command waits for a Redis connection it opened to finish its handshake. */
const SETTLE_MS = 1_000;

/**
 * Waits, briefly, for a Redis connection still in its handshake to finish it before the command
 * closes it. Closed mid-handshake, ioredis fails its ready check and arms a 2 s timer that keeps
 * the finished process alive (its socket has already closed, so nothing clears it): every quick
 * command that never used Redis would end 2 s late.
 */
export async function settleRedis(redis: Runtime['redis'], patienceMs = SETTLE_MS): Promise<void> {
  if (redis.status !== 'connecting' && redis.status !== 'connect') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      for (const event of ['ready', 'close', 'end']) redis.off(event, done);
      resolve();
    };
    const timer = setTimeout(done, patienceMs);
    for (const event of ['ready', 'close', 'end']) redis.once(event, done);
  });
}
