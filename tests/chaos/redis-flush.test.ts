import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostQueueName, JobQueues, JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { QueueProbe, waitForStatus } from '../support/fault.ts';
import { RedisServer } from '../support/redis-server.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { writeLarge } from '../support/tree.ts';

const services = await serviceUrls();
const HOSTS = ['flush-a', 'flush-b'];
const PER_HOST = 3;
const EXPECTED_SCHEDULERS = [
  ...HOSTS.map((h) => `daily.${h}`),
  ...HOSTS.map((h) => `drill.${h}`),
  'lifecycle.expire',
  'lifecycle.gc',
  'lifecycle.gc-scan',
  // The rolling re-read of the one target, the fs target `second` (each host's is on its queue).
  'recheck.second',
  ...HOSTS.map((h) => `${h}:recheck-local`),
].sort();

/**
 * Redis loses everything (FLUSHALL) while backups are in flight, on a private Redis the test
 * starts. Postgres is the source of truth: every backup still ends verified, and every job
 * scheduler (daily, drill and re-check per host, expire, gc, gc-scan, re-check per target) is back
 * within a sweep.
 */
describe.skipIf(!services)('chaos: FLUSHALL mid-run', () => {
  let redis: RedisServer;
  let stack: Stack;
  let probe: QueueProbe;
  let queues: JobQueues;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const sources = (dir: string) => Object.fromEntries(HOSTS.map((h) => [h, path.join(dir, 'src', h)]));
    stack = await createStack({ redisUrl: redis.url, databaseUrl: services!.databaseUrl }, 'chaos-flush');
    const src = sources(stack.iso.dir);
    for (const h of HOSTS) {
      await writeLarge(path.join(src[h]!, 'data.img'), 24 * 1024 * 1024, h);
      await writeFile(path.join(src[h]!, 'app.conf'), `host=${h}\n`);
    }
    // The hosts' sources come from the config file, so each gets a daily and a drill scheduler.
    const config = JSON.parse(await readFile(stack.env.FLEET_BACKUP_CONFIG!, 'utf8'));
    config.hosts = Object.fromEntries(HOSTS.map((h) => [h, { sources: [{ path: src[h] }] }]));
    await writeFile(stack.env.FLEET_BACKUP_CONFIG!, JSON.stringify(config));
    probe = new QueueProbe(redis.url, stack.iso.queuePrefix);
    queues = new JobQueues(probe.redis, stack.iso.queuePrefix);
    await stack.start(['producer'], { RECONCILE_INTERVAL_MS: '2000' });
    await stack.start(['worker']);
  }, 120_000);

  afterAll(async () => {
    await queues?.close();
    await probe?.close();
    if (redis && !redis.running) await redis.restart();
    await stack?.stop();
    await redis?.stop();
  });

  /** The pool's schedulers, and each host's re-check scheduler as `<host>:<id>`. */
  const schedulers = async () => {
    const list = new JobSchedulers(queues);
    const perHost = await Promise.all(
      HOSTS.map(async (h) => (await list.list(hostQueueName(h))).map((s) => `${h}:${s.id}`)),
    );
    return [...(await list.list(POOL_QUEUE)).map((s) => s.id), ...perHost.flat()].sort();
  };

  it('every backup in flight still ends verified, and every scheduler is back', async () => {
    await waitFor(async () => (await schedulers()).length === EXPECTED_SCHEDULERS.length, {
      timeoutMs: 30_000,
      what: 'the producer to create every scheduler',
    });
    expect(await schedulers()).toEqual(EXPECTED_SCHEDULERS);

    const ids: string[] = [];
    for (const h of HOSTS) {
      for (let i = 0; i < PER_HOST; i++) {
        const src = path.join(stack.iso.dir, 'src', h);
        const run = await stack.cli(manualBackup(h, `flush ${i}`, [src], '--json'));
        expect(run.code, run.stderr).toBe(0);
        ids.push((JSON.parse(run.stdout) as { id: string }).id);
      }
    }
    // The agents start on a full queue (each host's agent has its own backup root, as each machine
    // has its own /backup); Redis is flushed once work is really in flight: a first snapshot done,
    // the others queued or running.
    const agent = (h: string) =>
      stack.start(['agent', '--host', h], { BACKUP_ROOT: path.join(stack.iso.dir, 'backup', h) });
    await Promise.all(HOSTS.map(agent));
    await waitFor(
      async () =>
        (
          await stack.iso.pool.query(
            "SELECT 1 FROM backup_stages WHERE stage = 'snapshot' AND status = 'done' LIMIT 1",
          )
        ).rowCount === 1,
      { timeoutMs: 60_000, intervalMs: 50, what: 'a first snapshot to finish' },
    );
    const running = (
      await stack.iso.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM backups WHERE status = 'running'",
      )
    ).rows[0]!.n;
    // In one transaction: the roles keep writing (locks, events), so a size read after the flush
    // could already count their new keys.
    const flushed = await probe.redis.multi().flushall().dbsize().exec();
    const flushedAt = Date.now();
    expect(flushed?.[1]).toEqual([null, 0]);

    // Within a sweep or two the producer has every scheduler back, the lifecycle ones included.
    let have: string[] = [];
    await waitFor(
      async () => {
        have = await schedulers();
        return JSON.stringify(have) === JSON.stringify(EXPECTED_SCHEDULERS);
      },
      {
        timeoutMs: 30_000,
        what: 'every scheduler to be back after FLUSHALL',
        detail: () => `have: ${have.join(', ')}`,
      },
    );
    const schedulersBackMs = Date.now() - flushedAt;

    const statuses: Record<string, number> = {};
    for (const id of ids) {
      const status = await waitForStatus(
        stack,
        id,
        ['verified', 'unverified', 'failed', 'incomplete'],
        240_000,
      );
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
    expect(statuses).toEqual({ verified: ids.length });
    // Nothing was done twice: one file list per backup, each file once.
    const doubled = await stack.iso.pool.query(
      'SELECT backup_id, path FROM backup_files GROUP BY backup_id, path HAVING count(*) > 1',
    );
    expect(doubled.rows).toEqual([]);
    for (const role of stack.roles) expect(role.alive, `${role.name}\n${role.log.slice(-2000)}`).toBe(true);
    console.log(
      `redis-flush verdict: FLUSHALL with ${running} of ${ids.length} backups in flight -> ` +
        `${statuses.verified} verified, 0 failed; ${EXPECTED_SCHEDULERS.length}/${EXPECTED_SCHEDULERS.length} ` +
        `schedulers back in ${(schedulersBackMs / 1000).toFixed(1)}s; 0 role crashes`,
    );
  }, 400_000);
});
