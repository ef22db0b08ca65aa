import os from 'node:os';
import pg from 'pg';
import { withClient } from './checkout.ts';

export type Pool = pg.Pool;
/** A pool or a client inside a transaction: every store method accepts either. */
export type Queryable = pg.Pool | pg.PoolClient;

// bigint columns hold byte sizes, which stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * The URL with a user name filled in: node-pg falls back to $USER, which service managers and
 * containers often leave unset; libpq's rule (the OS user) is what operators expect.
 */
export function withDefaultUser(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (!url.username) url.username = process.env.PGUSER || os.userInfo().username;
  return url.toString();
}

/** A pool for DATABASE_URL. */
export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withDefaultUser(databaseUrl),
    max,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection (Postgres restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // Nor may a checked-out one before its holder listens: the pool drops its own listener when it
  // hands a client out, and a backend ended right after the client connected can say so within the
  // same read, before `await pool.connect()` returns. The holder's next query fails instead
  // ("not queryable"), and withClient still hears the event through its own listener.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Creates the database named in the URL when it does not exist (needs CREATEDB on the server). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(withDefaultUser(databaseUrl));
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-zA-Z0-9_-]{1,63}$/.test(name))
    throw new Error(`database name ${JSON.stringify(name)} is not supported`);
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  // Its connection dying between queries must reject the next query, not end the process.
  admin.on('error', () => {});
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await admin.query(`CREATE DATABASE "${name}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently by another process
      });
    }
  } finally {
    await admin.end();
  }
}

/**
 * Runs fn in a transaction, committing on success and rolling back on any error. A connection lost
 * meanwhile rejects with ConnectionLostError (see withClient) instead of ending the process.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, 'a transaction', async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}
