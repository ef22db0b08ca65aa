import type { Pool } from '@fleet-backup/db';
import type { Redis } from 'ioredis';

// Probes answer within a scrape or a kubelet probe even when a dependency hangs: BullMQ's
// connection queues commands forever while Redis is away, and a Postgres connect waits 10 s.
const PROBE_TIMEOUT_MS = 2_000;

/** Resolves to the promise's value, or rejects once ms have passed. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** True when Redis answers a PING now. */
export async function redisReachable(redis: Redis): Promise<boolean> {
  // Closed for good. Any other state (still connecting, reconnecting) gets its PING queued until
  // the connection is up or the timeout passes, so a runtime that has just opened is not reported
  // down for the few milliseconds its first connect takes.
  if (redis.status === 'end') return false;
  return withTimeout(redis.ping(), PROBE_TIMEOUT_MS, 'redis').then(
    () => true,
    () => false,
  );
}

/** True when Postgres answers a query now. */
export async function postgresReachable(pool: Pool): Promise<boolean> {
  return withTimeout(pool.query('SELECT 1'), PROBE_TIMEOUT_MS, 'postgres').then(
    () => true,
    () => false,
  );
}
