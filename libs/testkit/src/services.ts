import { dockerAvailable, reachable } from './containers.ts';

export interface ServiceUrls {
  redisUrl: string;
  databaseUrl: string;
}

let resolved: Promise<ServiceUrls | null> | undefined;

/**
 * Where the tests' Redis and Postgres are: REDIS_URL / DATABASE_URL first; else, where a Docker
 * engine answers, containers started by testcontainers; else the standard local ports if they
 * answer. Null means none is reachable: callers skip with a message, except under CI, where a
 * missing service is a failure (a skipped test proves nothing).
 */
export function serviceUrls(): Promise<ServiceUrls | null> {
  resolved ??= resolve();
  return resolved;
}

async function resolve(): Promise<ServiceUrls | null> {
  const env = process.env;
  if (env.REDIS_URL && env.DATABASE_URL) return { redisUrl: env.REDIS_URL, databaseUrl: env.DATABASE_URL };
  const fromContainers = await startContainers();
  if (fromContainers) return fromContainers;
  if ((await reachable('127.0.0.1', 6379)) && (await reachable('127.0.0.1', 5432))) {
    return { redisUrl: 'redis://127.0.0.1:6379', databaseUrl: 'postgres://127.0.0.1:5432/postgres' };
  }
  if (env.CI) throw new Error('CI: Redis and Postgres are required; set REDIS_URL and DATABASE_URL');
  console.warn('SKIP: no Redis/Postgres (set REDIS_URL and DATABASE_URL, or run a Docker engine)');
  return null;
}

async function startContainers(): Promise<ServiceUrls | null> {
  if (!(await dockerAvailable())) return null;
  try {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const { RedisContainer } = await import('@testcontainers/redis');
    const [pg, redis] = await Promise.all([
      new PostgreSqlContainer('postgres:16-alpine').start(),
      new RedisContainer('redis:7-alpine').start(),
    ]);
    return { redisUrl: redis.getConnectionUrl(), databaseUrl: pg.getConnectionUri() };
  } catch (err) {
    console.warn(`testcontainers unavailable: ${(err as Error).message}`);
    return null;
  }
}
