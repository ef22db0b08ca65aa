import { randomUUID } from 'node:crypto';
import { loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { hostQueueName, POOL_QUEUE, urgentQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Role, startPoolWorker } from '../roles.ts';

const services = await serviceUrls();
const request = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  host: 'db-01',
  paths: ['/srv/db'],
  description: 'Queued before migration',
  change_ticket: 'CHG-Q1',
  ...extra,
});

async function until<T>(check: () => Promise<T | null | undefined | false>, what: string): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!services)('pre-change jobs on the pool queue', () => {
  let iso: Isolated;
  let rt: Runtime;
  let worker: Role;

  beforeAll(async () => {
    iso = await isolate(services!, 'prechange-queue');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
    });
    rt = await openRuntime(
      { ...config, targets: [{ name: 'second', url: `file://${iso.dir}`, options: {} }] },
      { name: 'test', log: capturedLog('test').log },
    );
    await rt.hosts.touch('db-01');
    worker = await startPoolWorker(rt, 2);
  });
  afterAll(async () => {
    await worker?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('records the backup under the id the caller chose and enqueues its snapshot, once', async () => {
    const id = randomUUID();
    expect(await rt.queues.add('pre-change', request(id))).toBe(`pre-change.${id}`);
    expect(await rt.queues.add('pre-change', request(id))).toBe(`pre-change.${id}`);
    const backup = await until(() => rt.backups.get(id), 'the backup row');
    expect(backup).toMatchObject({ host: 'db-01', kind: 'pre_change', request: { ticket: 'CHG-Q1' } });
    expect(backup.key).toMatch(/^\d{8}_\d{4}_queued-before-migration$/);
    const snapshot = await until(
      () => rt.queues.queue(urgentQueueName('db-01')).getJob(`${id}.snapshot`),
      'the snapshot job on the urgent lane',
    );
    expect(snapshot.data).toEqual({ backupId: id, host: 'db-01', lane: 'urgent' });
    expect(await rt.queues.queue(hostQueueName('db-01')).getJob(`${id}.snapshot`)).toBeUndefined();
    const count = await rt.pool.query('SELECT count(*)::int AS n FROM backups WHERE id = $1', [id]);
    expect(count.rows[0].n).toBe(1);
  });

  it('refuses a payload without an id before it reaches Redis', async () => {
    const { id: _omit, ...noId } = request(randomUUID());
    await expect(rt.queues.add('pre-change', noId as never)).rejects.toThrow(/invalid pre-change job: id/);
  });

  it('fails a bad job for good with the reason, recording nothing', async () => {
    const pool = rt.queues.queue(POOL_QUEUE);
    const ghost = randomUUID();
    const bad = randomUUID();
    // As another service would add them, straight through BullMQ, skipping our validation.
    await pool.add('pre-change', request(ghost, { host: 'ghost-01' }), {
      jobId: `pre-change.${ghost}`,
      attempts: 3,
    });
    await pool.add('pre-change', request(bad, { paths: ['relative'] }), {
      jobId: `pre-change.${bad}`,
      attempts: 3,
    });
    for (const [id, reason] of [
      [ghost, /unknown host ghost-01/],
      [bad, /malformed pre-change payload: paths\.0/],
    ] as const) {
      const job = await until(async () => {
        const j = await pool.getJob(`pre-change.${id}`);
        // Read the job again once failed: the first read may predate the move to failed.
        return (await j?.isFailed()) ? pool.getJob(`pre-change.${id}`) : null;
      }, `job ${id} to fail`);
      expect(job?.failedReason).toMatch(reason);
      expect(job?.attemptsMade).toBe(1);
      expect(await rt.backups.get(id)).toBeNull();
    }
  });
});
