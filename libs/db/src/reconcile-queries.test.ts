import { ManualClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupStore } from './backup-store.ts';
import { HostStore } from './host-store.ts';
import { backupsWithOpenStages } from './reconcile-queries.ts';

const services = await serviceUrls();
const targets = [
  { name: 'disk', kind: 'fs', offsite: false },
  { name: 'cloud', kind: 's3', offsite: true },
];

/** Which backups the reconciler looks at: running ones, and failed ones with a stage still on its way. */
describe.skipIf(!services)('backupsWithOpenStages', () => {
  let env: Isolated;
  let store: BackupStore;
  const clock = new ManualClock('2026-05-01T02:03:04Z');

  beforeAll(async () => {
    env = await isolate(services!, 'reconcile-queries');
    store = new BackupStore(env.pool, clock);
    await new HostStore(env.pool, clock).touch('web-01');
  });
  afterAll(() => env?.cleanup());

  const make = async (description: string) => {
    clock.advance(60_000);
    const request = { host: 'web-01', kind: 'manual' as const, paths: ['/srv'], purpose: 'p', description };
    return (await store.create({ request, targets, dailyRetentionDays: 30 })).backup.id;
  };
  const finish = async (id: string, stage: 'snapshot' | 'hash' | 'replicate' | 'verify', target = '') => {
    await store.startStage(id, stage, target);
    await store.transaction((tx) => store.finishStage(tx, id, stage, target));
  };

  it('lists running backups and failed ones whose next stage is pending or running, oldest first', async () => {
    const running = await make('running');
    // Snapshot failed for good: what follows waits for an operator, nothing is on its way.
    const failedEarly = await make('failed early');
    await store.failStage(failedEarly, 'snapshot', '', 'boom', true);
    // Replicate to disk failed; replicate to cloud is still running (its job may have died unrecorded).
    const failedOneTarget = await make('failed one target');
    await finish(failedOneTarget, 'snapshot');
    await finish(failedOneTarget, 'hash');
    await store.failStage(failedOneTarget, 'replicate', 'disk', 'disk gone', true);
    await store.startStage(failedOneTarget, 'replicate', 'cloud');
    // Replicate to disk failed; cloud replicated, its verify pending (its job lost with Redis).
    const failedVerifyNext = await make('failed verify next');
    await finish(failedVerifyNext, 'snapshot');
    await finish(failedVerifyNext, 'hash');
    await store.failStage(failedVerifyNext, 'replicate', 'disk', 'disk gone', true);
    await finish(failedVerifyNext, 'replicate', 'cloud');
    // Being expired: never reconciled.
    const going = await make('going');
    await env.pool.query("UPDATE backups SET lifecycle = 'expiring' WHERE id = $1", [going]);

    expect(await backupsWithOpenStages(env.pool)).toEqual([running, failedOneTarget, failedVerifyNext]);
  });
});
