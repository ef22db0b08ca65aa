import { Redis } from 'ioredis';

/**
 * A Redis connection fit for BullMQ workers (which block and must retry forever) and queues.
 * Reconnects with capped backoff, so a Redis restart pauses work instead of crashing the process.
 */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(times * 200, 5_000),
  });
  // Errors surface through commands and reconnects; an unhandled 'error' event would kill the process.
  redis.on('error', () => {});
  return redis;
}
