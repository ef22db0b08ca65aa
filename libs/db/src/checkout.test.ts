import { randomBytes } from 'node:crypto';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionLostError, withAdvisoryLock } from './checkout.ts';
import { migrate } from './migrate.ts';
import { createPool, ensureDatabase, withDefaultUser, withTransaction } from './pool.ts';

const services = await serviceUrls();

/** Ends a backend from another connection, as a failover or an operator would, and waits until it is gone. */
async function terminate(admin: pg.Pool, pid: number): Promise<void> {
  await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  for (let i = 0; i < 100; i++) {
    const left = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (left.rowCount === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  // Let the client read the server's goodbye and emit its 'error' while nothing listens for a query.
  await new Promise((r) => setTimeout(r, 100));
}

describe.skipIf(!services)('clients held outside the pool survive a lost connection', () => {
  let env: Isolated;

  beforeAll(async () => {
    env = await isolate(services!, 'checkout');
    await env.pool.query('CREATE TABLE lost_tx (n int)');
  });
  afterAll(() => env?.cleanup());

  it('rejects a transaction whose backend was terminated between queries, and rolls it back', async () => {
    const pool = createPool(env.databaseUrl, 2);
    try {
      const tx = withTransaction(pool, async (client) => {
        await client.query('INSERT INTO lost_tx VALUES (1)');
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await terminate(env.pool, pid);
        await client.query('INSERT INTO lost_tx VALUES (2)');
      });
      const err = await tx.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConnectionLostError);
      expect((err as ConnectionLostError).purpose).toBe('a transaction');
      expect((err as Error).message).toMatch(/^lost the Postgres connection during a transaction \(/);
      expect((await env.pool.query('SELECT count(*)::int AS n FROM lost_tx')).rows[0]?.n).toBe(0);
      // The pool replaced the dead client and goes on working.
      expect((await pool.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
      await withTransaction(pool, (client) => client.query('INSERT INTO lost_tx VALUES (3)'));
    } finally {
      await pool.end();
    }
  });

  it('tells the holder of an advisory lock that its connection, and so the lock, is gone', async () => {
    const pool = createPool(env.databaseUrl, 2);
    const key = 424_242;
    try {
      let sawLost = false;
      const held = withAdvisoryLock(pool, key, 'the test lock', async (client, lost) => {
        const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        await terminate(env.pool, pid);
        sawLost = lost.aborted;
        return 'finished anyway';
      });
      await expect(held).rejects.toBeInstanceOf(ConnectionLostError);
      expect(sawLost).toBe(true);
      // Postgres released the lock with the session.
      const free = await env.pool.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key]);
      expect(free.rows[0]?.ok).toBe(true);
      await env.pool.query('SELECT pg_advisory_unlock_all()');
    } finally {
      await pool.end();
    }
  });

  it('survives a checked-out client losing its connection before its holder listens', async () => {
    const pool = createPool(env.databaseUrl, 2);
    try {
      const client = await pool.connect();
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      // Nothing listens on the client now, as in the moment between connect and the holder's listener.
      await terminate(env.pool, pid);
      await expect(client.query('SELECT 1')).rejects.toThrow(/not queryable|terminat/);
      client.release(true);
      expect((await pool.query('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('runs migrations again when terminated backends cut them off, until they finish', async () => {
    const url = new URL(withDefaultUser(env.databaseUrl));
    const name = `fbt_migrate_kill_${randomBytes(4).toString('hex')}`;
    url.pathname = `/${name}`;
    await ensureDatabase(url.toString());
    const pool = createPool(url.toString(), 2);
    let killed = 0;
    const killing = async () => {
      // Long enough to cut several runs short; a run takes well under a second here.
      const until = performance.now() + 1500;
      while (performance.now() < until) {
        const r = await env.pool.query(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
          [name],
        );
        killed += r.rowCount ?? 0;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    try {
      const once = await Promise.all([migrate(pool, { attempts: 1 }).catch((e: unknown) => e), killing()]);
      expect(once[0]).toBeInstanceOf(Error);
      const retried: Error[] = [];
      await Promise.all([
        migrate(pool, { attempts: 1000, backoffMs: 10, onRetry: (err) => retried.push(err) }),
        killing(),
      ]);
      expect(killed).toBeGreaterThan(0);
      expect(retried.length).toBeGreaterThan(0);
      expect(await migrate(pool)).toEqual([]);
      const tables = await pool.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'backups'");
      expect(tables.rowCount).toBe(1);
    } finally {
      await pool.end();
      await env.pool.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  }, 120_000);
});
