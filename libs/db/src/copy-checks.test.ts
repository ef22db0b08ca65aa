import { randomUUID } from 'node:crypto';
import { ManualClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CopyChecks, sliceBounds } from './copy-checks.ts';
import { recheckCoverage } from './copy-coverage.ts';
import { LocalChecks } from './local-checks.ts';
import { reportQueries } from './report-queries.ts';

const services = await serviceUrls();
const DAY = 86_400_000;
const T0 = new Date('2026-06-01T05:00:00Z');
const sha = (n: number) => n.toString(16).padStart(64, '0');

describe('sliceBounds', () => {
  it('reads 1/window a day, and counts as overdue what was read a whole window ago', () => {
    expect(sliceBounds(3000, 30, T0)).toEqual({
      budget: 100,
      overdueBefore: new Date(T0.getTime() - 29 * DAY),
    });
    expect(sliceBounds(10, 1, T0)).toEqual({ budget: 10, overdueBefore: T0 });
  });
});

describe.skipIf(!services)('rolling re-read slices', () => {
  let env: Isolated;
  let clock: ManualClock;
  let checks: CopyChecks;

  beforeAll(async () => {
    env = await isolate(services!, 'copy-checks');
    clock = new ManualClock(T0);
    checks = new CopyChecks(env.pool, clock);
  });
  afterAll(() => env?.cleanup());

  /** Runs `days` daily slices of target t, marking each read good; returns per blob its read days, and per day the bytes. */
  async function simulate(target: string, days: number, window: number) {
    const reads = new Map<string, number[]>();
    const perDay: number[] = [];
    for (let day = 0; day < days; day++) {
      const slice = await checks.blobSlice(target, window);
      perDay.push(slice.reduce((n, b) => n + b.size, 0));
      for (const b of slice) reads.set(b.sha256, [...(reads.get(b.sha256) ?? []), day]);
      await checks.blobsGood(
        target,
        slice.map((b) => b.sha256),
      );
      clock.advance(DAY);
    }
    return { reads, perDay };
  }

  it('reads every blob at least once per window, oldest first, about 1/window of the bytes a day', async () => {
    // 300 blobs of 1 to 100 KiB, stored over the last 90 days and never read back since (an upgrade).
    const sizes: number[] = [];
    for (let i = 0; i < 300; i++) {
      const size = 1024 * (1 + ((i * 37) % 100));
      sizes.push(size);
      await env.pool.query(
        'INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ($1, $2, $3, $4)',
        ['offsite', sha(i + 1), size, new Date(T0.getTime() - ((i * 7) % 90) * DAY)],
      );
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const budget = Math.ceil(total / 30);
    const biggest = Math.max(...sizes);
    const first = await simulate('offsite', 60, 30);
    // Every blob read within the first window, and again within the second.
    for (let i = 0; i < 300; i++) {
      const days = first.reads.get(sha(i + 1)) ?? [];
      expect(days[0], `blob ${i} first read`).toBeLessThan(30);
      for (let k = 1; k < days.length; k++) expect(days[k]! - days[k - 1]!).toBeLessThanOrEqual(30);
      expect(days.at(-1)!).toBeGreaterThanOrEqual(30);
    }
    // Never more than twice the daily budget (catching up), and once caught up about the budget.
    for (const bytes of first.perDay) expect(bytes).toBeLessThan(2 * budget + biggest);
    for (const bytes of first.perDay.slice(40)) expect(bytes).toBeLessThan(budget + biggest);
    expect(first.perDay.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(total);
    // Coverage: everything read within the last window.
    const cover = (await recheckCoverage(env.pool, new Date(clock.now().getTime() - 30 * DAY))).find(
      (c) => c.copy === 'offsite',
    );
    expect(cover).toEqual({ copy: 'offsite', bytes: total, checkedBytes: total, readPerDay: 0 });
  });

  it('counts the bytes read back from each target per day, averaged over the last week', async () => {
    await env.pool.query(
      'INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ($1, $2, 10, $3)',
      ['egress', sha(2001), clock.now()],
    );
    const perDay = async () =>
      (await recheckCoverage(env.pool, clock.now(), clock.now())).find((c) => c.copy === 'egress')
        ?.readPerDay;
    await checks.noteReadBack('egress', 500);
    await checks.noteReadBack('egress', 200);
    clock.advance(DAY);
    await checks.noteReadBack('egress', 700);
    expect(await perDay()).toBe(200);
    clock.advance(6 * DAY);
    expect(await perDay()).toBe(100);
    clock.advance(DAY);
    expect(await perDay()).toBe(0);
  });

  it('leaves blobs known bad out of the slice and tells a new bad mark from a known one', async () => {
    await env.pool.query(
      'INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ($1, $2, 10, $3), ($1, $4, 20, $3)',
      ['fs1', sha(1001), clock.now(), sha(1002)],
    );
    expect(await checks.blobBad('fs1', { sha256: sha(1001), size: 10 }, 'blob content differs')).toBe(true);
    expect(await checks.blobBad('fs1', { sha256: sha(1001), size: 10 }, 'blob content differs')).toBe(false);
    // Marked even when Postgres did not know the target held it.
    expect(await checks.blobBad('fs1', { sha256: sha(1003), size: 30 }, 'blob missing')).toBe(true);
    expect([...(await checks.badAmong('fs1', [sha(1001), sha(1002), sha(1003)]))].sort()).toEqual([
      sha(1001),
      sha(1003),
    ]);
    expect((await checks.blobSlice('fs1', 1)).map((b) => b.sha256)).toEqual([sha(1002)]);
    expect((await checks.badBlobs('fs1')).map((b) => [b.sha256, b.problem])).toEqual([
      [sha(1001), 'blob content differs'],
      [sha(1003), 'blob missing'],
    ]);
    await checks.blobsGood('fs1', [sha(1001)]);
    expect(await checks.badAmong('fs1', [sha(1001)])).toEqual(new Set());
    expect(await checks.goodElsewhere(sha(1001), 'other')).toEqual(['fs1']);
    expect(await checks.goodElsewhere(sha(1003), 'other')).toEqual([]);
  });

  it('a daily verify does not restamp blobs read good lately (no daily rewrite of the table), but always clears a bad mark', async () => {
    const t = 'daily-verify';
    const stamped = async (i: number) =>
      (
        await env.pool.query<{ checked_at: Date | null; bad_at: Date | null }>(
          'SELECT checked_at, bad_at FROM target_blobs WHERE target = $1 AND sha256 = $2',
          [t, sha(i)],
        )
      ).rows[0];
    for (const i of [2001, 2002, 2003])
      await env.pool.query(
        'INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ($1, $2, 1, $3)',
        [t, sha(i), clock.now()],
      );
    const all = [sha(2001), sha(2002), sha(2003)];
    const firstRead = clock.now();
    await checks.blobsGood(t, all, undefined, new Date(clock.now().getTime() - 15 * DAY));
    expect((await stamped(2001))?.checked_at).toEqual(firstRead);
    clock.advance(DAY);
    await checks.blobBad(t, { sha256: sha(2002), size: 1 }, 'blob content differs');
    clock.advance(DAY);
    // Two days later: read good again; 2001 and 2003 keep their time, 2002's bad mark goes.
    await checks.blobsGood(t, all, undefined, new Date(clock.now().getTime() - 15 * DAY));
    expect((await stamped(2001))?.checked_at).toEqual(firstRead);
    expect((await stamped(2003))?.checked_at).toEqual(firstRead);
    expect(await stamped(2002)).toEqual({ checked_at: clock.now(), bad_at: null });
    // Past half the window, the read is recorded again.
    clock.advance(15 * DAY);
    await checks.blobsGood(t, all, undefined, new Date(clock.now().getTime() - 15 * DAY));
    expect((await stamped(2001))?.checked_at).toEqual(clock.now());
  });

  it('counts a copy as verified lately once the rolling re-check has read all of it, not only by verified_at', async () => {
    await env.pool.query("INSERT INTO hosts (id, first_seen) VALUES ('h2', now())");
    const id = randomUUID();
    const old = new Date(clock.now().getTime() - 40 * DAY);
    await env.pool.query(
      `INSERT INTO backups (id, host, kind, key, status, created_at, request, targets, entry, updated_at)
       VALUES ($1, 'h2', 'manual', '20260101_0000_old', 'verified', $2, '{}', '{s3x}', '{}', $2)`,
      [id, old],
    );
    await env.pool.query(
      `INSERT INTO backup_files (backup_id, path, stored_path, class, size, sha256, hashed_at)
       VALUES ($1, 'x', 'x.bak', 'general', 5, $2, $3), ($1, 'y', 'y.bak', 'general', 6, $4, $3)`,
      [id, sha(3001), old, sha(3002)],
    );
    await env.pool.query(
      `INSERT INTO backup_copies (backup_id, target, kind, offsite, status, verified_at)
       VALUES ($1, 'local', 'local', false, 'verified', $2), ($1, 's3x', 's3', true, 'verified', $2)`,
      [id, old],
    );
    await env.pool.query(
      "INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ('s3x', $1, 5, $3), ('s3x', $2, 6, $3)",
      [sha(3001), sha(3002), old],
    );
    const stale = async () =>
      (await reportQueries.needingVerification(env.pool, new Date(clock.now().getTime() - 30 * DAY))).some(
        (b) => b.id === id,
      );
    expect(await stale()).toBe(true);
    // The local copy read back in full, the target's blobs too, but not its manifest yet: still stale.
    await new LocalChecks(env.pool, clock).filesGood(id, ['x', 'y']);
    await checks.blobsGood('s3x', [sha(3001), sha(3002)]);
    expect(await stale()).toBe(true);
    await checks.copyChecked(id, 's3x');
    expect(await stale()).toBe(false);
    // A blob read bad since makes the copy stale again.
    await checks.blobBad('s3x', { sha256: sha(3002), size: 6 }, 'blob missing');
    expect(await stale()).toBe(true);
  });

  it("slices a host's local copies of kept backups only, by bytes, oldest read first", async () => {
    await env.pool.query("INSERT INTO hosts (id, first_seen) VALUES ('h1', now())");
    const backup = async (key: string, lifecycle: string | null) => {
      const id = randomUUID();
      await env.pool.query(
        `INSERT INTO backups (id, host, kind, key, status, created_at, request, targets, entry, updated_at, lifecycle)
         VALUES ($1, 'h1', 'manual', $2, 'verified', $3, '{}', '{}', '{}', $3, $4)`,
        [id, key, clock.now(), lifecycle],
      );
      for (let i = 0; i < 10; i++) {
        await env.pool.query(
          // hashed_at is the backup's (one hash stage); each file was last read back at its own time.
          `INSERT INTO backup_files (backup_id, path, stored_path, class, size, sha256, hashed_at, local_checked_at)
           VALUES ($1, $2, $3, 'general', 100, $4, $5, $6)`,
          [
            id,
            `f${i}`,
            `f${i}.bak`,
            sha(2000 + i),
            new Date(clock.now().getTime() - 10 * 3_600_000),
            new Date(clock.now().getTime() - i * 3_600_000),
          ],
        );
      }
      return id;
    };
    const kept = await backup('20260701_0000_kept', null);
    await backup('20260701_0000_gone', 'expired');
    const local = new LocalChecks(env.pool, clock);
    const slice = await local.slice('h1', 5);
    // 10 kept files of 100 bytes over 5 days: 200 bytes a day, the two read longest ago first.
    expect(slice.map((f) => f.path)).toEqual(['f9', 'f8']);
    expect(slice.every((f) => f.backupId === kept)).toBe(true);
    expect(slice[0]).toMatchObject({ backupId: kept, storedPath: 'f9.bak', sha256: sha(2009), size: 100 });
    await local.filesGood(kept, ['f9', 'f8']);
    expect((await local.slice('h1', 5)).map((f) => f.path)).toEqual(['f7', 'f6']);
    // A whole window later everything is overdue: the slice stretches to twice the budget.
    clock.advance(5 * DAY);
    expect((await local.slice('h1', 5)).map((f) => f.path)).toEqual(['f7', 'f6', 'f5', 'f4']);
  });
});
