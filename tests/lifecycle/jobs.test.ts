import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import { reconcileLifecycleSchedulers } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/cli.ts';
import { blobsOnTarget, createFleet, exists, type Fleet } from './fleet.ts';

const services = await serviceUrls();
const DAY = 86_400_000;
const HOST = 'jobs-01';

/** expire and gc as queue jobs: the producer's job schedulers, and a pool worker running them. */
describe.skipIf(!services)('lifecycle jobs and their schedulers', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-jobs', {
      hosts: [HOST],
      start: '2026-03-01T02:00:00Z',
      lifecycle: { blobGraceHours: 0, scheduleTimeZone: 'Europe/Berlin' },
    });
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('keeps one scheduler per lifecycle job, however often producers reconcile, and drops a disabled one', async () => {
    const schedulers = new JobSchedulers(fleet.rt.queues);
    await reconcileLifecycleSchedulers(fleet.rt);
    await reconcileLifecycleSchedulers(fleet.rt);
    const listed = await schedulers.list(POOL_QUEUE, 'lifecycle.');
    expect(listed.map((s) => [s.id, s.name, s.pattern, s.tz]).sort()).toEqual([
      ['lifecycle.expire', 'expire', '15 3 * * *', 'Europe/Berlin'],
      ['lifecycle.gc', 'gc', '45 4 * * *', 'Europe/Berlin'],
      ['lifecycle.gc-scan', 'gc', '30 5 * * 0', 'Europe/Berlin'],
    ]);
    // One pending job per scheduler, with a payload the catalog accepts.
    const pending = await fleet.rt.queues.queue(POOL_QUEUE).getDelayed();
    expect(pending.map((j) => JSON.stringify([j.name, j.data])).sort()).toEqual([
      '["expire",{}]',
      '["gc",{"scan":false}]',
      '["gc",{"scan":true}]',
    ]);
    fleet.rt.config.lifecycle.gcScanSchedule = null;
    await reconcileLifecycleSchedulers(fleet.rt);
    expect((await schedulers.list(POOL_QUEUE, 'lifecycle.')).map((s) => s.id).sort()).toEqual([
      'lifecycle.expire',
      'lifecycle.gc',
    ]);
  });

  it('a queued expire job removes what is due, and a queued gc job then frees its blobs', async () => {
    await writeFile(path.join(fleet.sourceDir(HOST), 'x.txt'), 'short-lived\n');
    const paths = [fleet.sourceDir(HOST)];
    const id = await fleet.backup({ host: HOST, kind: 'manual', paths, purpose: 'p', retention: 'days_1' });
    const key = (await fleet.iso.pool.query('SELECT key FROM backups WHERE id = $1', [id])).rows[0].key;
    fleet.clock.advance(2 * DAY);
    const before = (await blobsOnTarget(fleet)).size;
    await fleet.rt.queues.add('expire', {});
    await waitFor(
      async () =>
        (await fleet.iso.pool.query('SELECT lifecycle FROM backups WHERE id = $1', [id])).rows[0]
          .lifecycle === 'expired',
      { what: 'the expire job to expire the backup' },
    );
    expect(await exists(path.join(fleet.backupRoot(HOST), key))).toBe(false);
    await fleet.rt.queues.add('gc', { scan: false });
    await waitFor(async () => (await blobsOnTarget(fleet)).size === before - 1, {
      what: 'the gc job to delete the blob',
    });
  });
});
