import { dailyEntrySchema, ManualClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupStore } from './backup-store.ts';
import { completenessQueries } from './completeness-queries.ts';
import { HostStore } from './host-store.ts';

const services = await serviceUrls();
const HOUR = 3_600_000;

describe.skipIf(!services)('completeness queries and status', () => {
  let env: Isolated;
  let store: BackupStore;
  const clock = new ManualClock('2026-05-01T02:00:00Z');

  beforeAll(async () => {
    env = await isolate(services!, 'complete');
    store = new BackupStore(env.pool, clock);
    await new HostStore(env.pool, clock).touch('web-01');
  });
  afterAll(() => env?.cleanup());

  /**
   * A manual backup of `paths` whose snapshot holds `sizes` (one file each, `srv/f0`…, content
   * `hexes[i]` repeated when given), an hour after the last.
   */
  async function snapshotted(paths: string[], sizes: number[], finish = true, hexes: string[] = []) {
    clock.advance(HOUR);
    const { backup } = await store.create({
      request: { host: 'web-01', kind: 'manual', paths, purpose: 'test' },
      targets: [],
      dailyRetentionDays: 30,
    });
    await store.startStage(backup.id, 'snapshot');
    const files = sizes.map((size, i) => ({
      path: `srv/f${i}`,
      storedPath: `srv/f${i}.bak`,
      cls: 'general' as const,
      size,
      sha256: (hexes[i] ?? String(i % 10)).repeat(64),
      hasWal: null,
    }));
    await store.transaction(async (tx) => {
      await store.saveSnapshot(tx, backup.id, files, []);
      if (finish) await store.finishStage(tx, backup.id, 'snapshot');
    });
    return store.require(backup.id);
  }

  const previousOf = (b: {
    id: string;
    host: string;
    key: string;
    createdAt: Date;
    request: { paths: string[] };
  }) => completenessQueries.previousSnapshot(env.pool, { ...b, paths: b.request.paths });

  it('measures against the newest earlier backup of the same paths whose snapshot finished', async () => {
    const first = await snapshotted(['/srv', '/etc'], [100, 200, 300]);
    await snapshotted(['/srv'], [1]); // other paths
    const failed = await snapshotted(['/etc', '/srv'], [5]);
    await store.failStage(failed.id, 'hash', '', 'disk on fire', true);
    await snapshotted(['/etc', '/srv'], [7], false); // snapshot not finished
    const current = await snapshotted(['/etc', '/srv'], [10]);
    expect(await previousOf(current)).toEqual({ id: first.id, key: first.key, files: 3, bytes: 600 });
    expect(await previousOf(first)).toBeNull();
  });

  it('stores what the check found; missing files end the backup incomplete and unverified in the seed', async () => {
    clock.advance(HOUR);
    const { backup } = await store.create({
      request: { host: 'web-01', kind: 'daily', paths: ['/srv/app'] },
      targets: [],
      dailyRetentionDays: 30,
    });
    const drop = {
      previous: { id: backup.id, key: 'earlier' },
      threshold: 50,
      files: { before: 10, after: 4, percent: 60 },
      bytes: { before: 1000, after: 400, percent: 60 },
    };
    const massChange = { previous: drop.previous, threshold: 50, before: 10, changed: 8, percent: 80 };
    await store.transaction(async (tx) => {
      await store.saveSnapshot(tx, backup.id, [], []);
      await store.saveCompleteness(tx, backup.id, {
        missing: ['/srv/app/app.db'],
        sharpDrop: drop,
        massChange,
      });
      await store.finishStage(tx, backup.id, 'snapshot');
    });
    expect((await store.require(backup.id)).status).toBe('running');
    await store.transaction((tx) => store.finishStage(tx, backup.id, 'hash'));
    const ended = await store.require(backup.id);
    expect(ended).toMatchObject({
      status: 'incomplete',
      missing: ['/srv/app/app.db'],
      sharpDrop: drop,
      massChange,
    });
    expect(dailyEntrySchema.parse(ended.entry)).toMatchObject({ status: 'active', verified: false });

    const incomplete = await completenessQueries.incomplete(env.pool);
    expect(incomplete.map((b) => [b.id, b.status, b.missing])).toEqual([
      [backup.id, 'incomplete', ['/srv/app/app.db']],
    ]);
    expect((await completenessQueries.sharpDrops(env.pool)).map((b) => b.sharpDrop)).toEqual([drop]);
    expect((await completenessQueries.massChanges(env.pool)).map((b) => b.massChange)).toEqual([massChange]);
  });

  it('counts the previous files the new backup does not hold as they were: changed in place, renamed or gone', async () => {
    const before = await snapshotted(['/data'], [1, 1, 1, 1], true, ['a', 'b', 'c', 'd']);
    // f1 rewritten, f3 gone; f0 and f2 as they were.
    const after = await snapshotted(['/data'], [1, 1, 1], true, ['a', 'e', 'c']);
    expect(await completenessQueries.changedSince(env.pool, after.id, before.id)).toEqual({
      before: 4,
      changed: 2,
    });
    expect(await completenessQueries.changedSince(env.pool, before.id, before.id)).toEqual({
      before: 4,
      changed: 0,
    });
  });
});
