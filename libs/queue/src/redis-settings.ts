import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** The only eviction policy under which Redis never drops a queued job to free memory. */
export const REQUIRED_EVICTION_POLICY = 'noeviction';

/** What the server says its eviction policy is, and how we found out. */
export type EvictionPolicyReading =
  | { policy: string; source: 'CONFIG GET' | 'INFO memory' }
  | { policy: null; reason: string };

/**
 * Reads `maxmemory-policy`. Managed Redis services often forbid CONFIG (renamed command or an
 * ACL without @admin), so INFO memory's `maxmemory_policy` is the fallback.
 */
export async function readEvictionPolicy(redis: Redis): Promise<EvictionPolicyReading> {
  let configError: string;
  try {
    const reply = (await redis.call('CONFIG', 'GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy) return { policy, source: 'CONFIG GET' };
    configError = 'CONFIG GET returned no maxmemory-policy';
  } catch (err) {
    configError = `CONFIG GET failed: ${(err as Error).message}`;
  }
  try {
    const policy = /^maxmemory_policy:(\S+)/m.exec(await redis.info('memory'))?.[1];
    if (policy) return { policy, source: 'INFO memory' };
    return { policy: null, reason: `${configError}; INFO memory has no maxmemory_policy` };
  } catch (err) {
    return { policy: null, reason: `${configError}; INFO memory failed: ${(err as Error).message}` };
  }
}

/**
 * Checks the production setting BullMQ depends on and logs loudly when it is wrong: under any
 * other policy Redis deletes job, lock and queue keys when memory runs short, and work vanishes
 * without a failure anywhere. Never throws; returns the reading for callers and tests.
 */
export async function checkRedisSettings(redis: Redis, log: Logger): Promise<EvictionPolicyReading> {
  const reading = await readEvictionPolicy(redis);
  if (reading.policy === null) {
    log.warn(
      { reason: reading.reason, required: REQUIRED_EVICTION_POLICY },
      'REDIS SETTINGS UNCHECKED: could not read maxmemory-policy; make sure it is noeviction, BullMQ loses jobs under any other policy',
    );
  } else if (reading.policy !== REQUIRED_EVICTION_POLICY) {
    log.warn(
      { maxmemoryPolicy: reading.policy, source: reading.source, required: REQUIRED_EVICTION_POLICY },
      `REDIS MISCONFIGURED: maxmemory-policy is ${reading.policy}, not noeviction; Redis may evict queued jobs and locks when memory runs short. Set maxmemory-policy noeviction`,
    );
  }
  return reading;
}
