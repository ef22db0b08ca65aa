import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool, ensureDatabase, migrate, type Pool, withDefaultUser } from '@fleet-backup/db';
import { createRedis } from '@fleet-backup/queue';
import pg from 'pg';
import type { ServiceUrls } from './services.ts';

export interface Isolated {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  pool: Pool;
  dir: string;
  /** Drops the database, deletes the queue keys and the temp dir. */
  cleanup(): Promise<void>;
}

/** A fresh database, queue prefix and temp dir for one test file. */
export async function isolate(services: ServiceUrls, label: string): Promise<Isolated> {
  const suffix = randomBytes(4).toString('hex');
  const name = `fbt_${label
    .replace(/[^a-z0-9]/gi, '_')
    .toLowerCase()
    .slice(0, 30)}_${suffix}`;
  const url = new URL(services.databaseUrl);
  url.pathname = `/${name}`;
  const databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  const pool = createPool(databaseUrl);
  await migrate(pool);
  const queuePrefix = `fbt-${label.replace(/[^a-z0-9]/gi, '-').slice(0, 20)}-${suffix}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), `fbt-${label.replace(/[^a-z0-9]/gi, '-')}-`));
  return {
    databaseUrl,
    redisUrl: services.redisUrl,
    queuePrefix,
    pool,
    dir,
    async cleanup() {
      if (!pool.ended) await pool.end();
      await dropDatabase(services.databaseUrl, name);
      await deleteKeys(services.redisUrl, `${queuePrefix}:*`);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const url = new URL(withDefaultUser(adminUrl));
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

async function deleteKeys(redisUrl: string, pattern: string): Promise<void> {
  const redis = createRedis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
