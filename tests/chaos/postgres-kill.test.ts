/**
 * Postgres backends terminated while backups run (a failover, pg_terminate_backend): a lost
 * connection fails the job it was serving, the job is retried, and no role process crashes.
 * The test holds the expire and migration locks for a while, so that an expire run in the pool
 * worker and the migrations of a worker starting up are waiting on them when their connections
 * are terminated.
 */
import { ADVISORY_LOCKS } from '@fleet-backup/db';
import { createRedis, JobQueues } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoleProcess, waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeSources, requestBackups, waitAllVerified, watchRoles } from './roles.ts';

const services = await serviceUrls();
const HOST = 'pgkill-host';
// The session locks of libs/runtime/src/lifecycle/expire.ts and libs/db/src/migrate.ts.
const { expireRun: EXPIRE_LOCK, migration: MIGRATION_LOCK } = ADVISORY_LOCKS;
const KILL_EVERY_MS = 1500;
const KILL_FOR_MS = 30_000;
const HOLD_LOCKS_MS = 8000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!services)('postgres-kill: backends terminated while backups run', () => {
  let stack: Stack;
  let killer: pg.Client;
  let queues: JobQueues;
  let redis: ReturnType<typeof createRedis>;

  beforeAll(async () => {
    stack = await createStack(services!, 'pgkill');
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    killer = new pg.Client({ connectionString: stack.iso.databaseUrl });
    killer.on('error', () => {});
    await killer.connect();
    redis = createRedis(stack.iso.redisUrl);
    queues = new JobQueues(redis, stack.iso.queuePrefix);
  }, 120_000);
  afterAll(async () => {
    await killer?.end().catch(() => {});
    await queues?.close();
    redis?.disconnect();
    await stack?.stop();
  });

  /** Terminates every backend of the test database but the killer's own; returns how many. */
  async function terminateAll(): Promise<number> {
    const r = await killer.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return r.rowCount ?? 0;
  }

  /** How many of these backups are not over yet (read through the killer's own connection). */
  async function unfinished(ids: string[]): Promise<number> {
    const r = await killer.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM backups WHERE id = ANY($1::uuid[]) AND status = 'running'",
      [ids],
    );
    return r.rows[0]?.n ?? 0;
  }

  it('no role crashes, and every backup ends verified', async () => {
    // Enough files that the backups are still running when the kills start (packs made them quick).
    const ids = await requestBackups(stack, HOST, await makeSources(stack, 'pgkill', 6, 3000));
    await killer.query('SELECT pg_advisory_lock($1), pg_advisory_lock($2)', [EXPIRE_LOCK, MIGRATION_LOCK]);
    await queues.add('expire', {});
    // A worker starting now: its migrations wait on the lock the killer holds, and are cut off.
    const latecomer = new RoleProcess(['worker'], stack.env);
    stack.roles.push(latecomer);
    const watch = watchRoles(stack.roles);
    const started = performance.now();
    let terminated = 0;
    // Counted apart: how fast the backups finish decides how many kills land on their work, and a
    // killer that hit nothing while they ran would prove nothing.
    let terminatedWhileRunning = 0;
    let locksHeld = true;
    // The first kill at once, while the backups surely run; then every KILL_EVERY_MS.
    for (let first = true; performance.now() - started < KILL_FOR_MS; first = false) {
      if (!first) await sleep(KILL_EVERY_MS);
      const running = await unfinished(ids);
      const n = await terminateAll();
      terminated += n;
      if (running) terminatedWhileRunning += n;
      if (locksHeld && performance.now() - started > HOLD_LOCKS_MS) {
        await killer.query('SELECT pg_advisory_unlock_all()');
        locksHeld = false;
      }
    }
    const calm = performance.now();
    await waitAllVerified(stack, ids, 240_000, () => watch.crashes().join('\n'));
    const recovered = Math.round((performance.now() - calm) / 1000);
    await latecomer.waitForLog(/"msg":"worker ready"/, 120_000);
    const workerLogs = () =>
      stack.roles
        .filter((r) => r.name === 'worker')
        .map((r) => r.log)
        .join('\n');
    // The expire run was cut off: its job failed with the lost connection, and its retry finished.
    await waitFor(() => /"stage":"expire"[^\n]*"event":"done"/.test(workerLogs()), {
      timeoutMs: 180_000,
      what: 'the expire job to finish after its retry',
      detail: () => workerLogs().slice(-3000),
    });
    const expireCutOff = /"stage":"expire"[^\n]*"event":"retrying"/.test(workerLogs());
    const migrationCutOff = latecomer.log.includes('migrations cut off by a lost connection');
    const crashes = watch.crashes();
    console.log(
      `postgres-kill: ${ids.length}/${ids.length} verified ${recovered} s after kills stopped, ` +
        `${crashes.length} role crashes, ${terminated} backends terminated (${terminatedWhileRunning} while backups ran) ` +
        `(expire run cut off: ${expireCutOff}, migration cut off: ${migrationCutOff})`,
    );
    expect(crashes).toEqual([]);
    expect(stack.roles.every((r) => r.alive)).toBe(true);
    // Each kill ends the connections open at that moment; since replicate sends packs (no longer a
    // few queries per file), fewer are open at once: 9 to 12 in 20 kills on this machine.
    expect(terminated).toBeGreaterThan(5);
    expect(terminatedWhileRunning).toBeGreaterThan(0);
    expect(expireCutOff).toBe(true);
    expect(migrationCutOff).toBe(true);
  }, 600_000);
});
