import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createFleet, exists, type Fleet, manifestOnTarget, metadataKeys } from './fleet.ts';

const services = await serviceUrls();
const DAY = 86_400_000;
const START = Date.parse('2026-03-01T02:00:00.000Z');
const HOST = 'cli-01';

/**
 * The lifecycle commands through the real CLI, against backups made in-process on a ManualClock
 * in March 2026 (so, at the machine's real time, every one is past its retention).
 */
describe.skipIf(!services)('fleet-backup expire, retire, gc and report', () => {
  let fleet: Fleet;
  const keys: Record<string, string> = {};
  const cli = (args: string[]) => runCli(args, fleet.env);

  async function day(d: number): Promise<void> {
    fleet.clock.advance(START + d * DAY - fleet.clock.now().getTime());
    // 14 bytes shared by every backup, 13 bytes new each day.
    await writeFile(path.join(fleet.sourceDir(HOST), 'app.conf'), 'shared = true\n');
    await writeFile(path.join(fleet.sourceDir(HOST), 'day.txt'), `${HOST} day ${d}\n`);
  }

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-cli', {
      hosts: [HOST],
      start: new Date(START).toISOString(),
    });
    const paths = [fleet.sourceDir(HOST)];
    for (let d = 0; d < 3; d++) {
      await day(d);
      await fleet.backup({ host: HOST, kind: 'daily', paths });
      if (d === 0)
        await fleet.backup({
          host: HOST,
          kind: 'manual',
          paths,
          purpose: 'tmp',
          description: 'scratch',
          retention: 'days_1',
        });
      if (d === 1)
        await fleet.backup({
          host: HOST,
          kind: 'pre_change',
          paths,
          description: 'upgrade',
          ticket: 'CHG-9',
        });
    }
    const r = await fleet.iso.pool.query<{ kind: string; key: string }>(
      'SELECT kind, key FROM backups ORDER BY key',
    );
    for (const row of r.rows) keys[row.kind === 'daily' ? row.key : row.kind] = row.key;
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('expire --dry-run prints exactly what would go and the bytes freed per target, changing nothing', async () => {
    const run = await cli(['expire', '--dry-run', '--at', '2026-04-01T03:00:00Z']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // The newest verified daily (20260303) stays; the manual days_1 and two older dailies go. On
    // the target only the day-0 blob is freed: the shared file and day 1's file (the pre-change
    // backup holds it too) are still referenced.
    expect(run.stdout).toBe(
      [
        'expire at 2026-04-01T03:00:00.000Z (dry run): 3 backups would go',
        'HOST    KIND    KEY                    ACTION  LOCAL BYTES  REASON',
        'cli-01  daily   20260301               expire  27           daily, expires 2026-03-31T02:00:00.000Z',
        'cli-01  manual  20260301_0200_scratch  expire  27           manual days_1, expires 2026-03-02T02:00:00.000Z',
        'cli-01  daily   20260302               expire  27           daily, expires 2026-04-01T02:00:00.000Z',
        '',
        'bytes freed per target',
        'TARGET  BLOBS  BYTES',
        'local   -      81',
        'second  1      13',
        '(local directories go at once; blobs on targets are deleted by gc once no backup references them and the grace period has passed)',
        '',
      ].join('\n'),
    );
    const json = JSON.parse(
      (await cli(['expire', '--dry-run', '--json', '--at', '2026-04-01T03:00:00Z'])).stdout,
    );
    expect(json.bytesFreed).toEqual([
      { target: 'local', blobs: null, bytes: 81 },
      { target: 'second', blobs: 1, bytes: 13 },
    ]);
    expect(json.backups.map((b: { action: string }) => b.action)).toEqual(['expire', 'expire', 'expire']);
    const lifecycles = await fleet.iso.pool.query('SELECT 1 FROM backups WHERE lifecycle IS NOT NULL');
    expect(lifecycles.rowCount).toBe(0);
    expect((await cli(['expire', '--at', '2026-04-01T03:00:00Z'])).code).toBe(2);
  });

  it('expire removes what is due, keeps the newest verified daily, and drops them from backup_metadata.json', async () => {
    const run = await cli(['expire', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    // At the real date (months later), 20260302 goes too; 20260303 is the host's last good daily.
    expect(report.results.map((r: { key: string; lifecycle: string }) => [r.key, r.lifecycle])).toEqual([
      ['20260301', 'expired'],
      ['20260301_0200_scratch', 'expired'],
      ['20260302', 'expired'],
    ]);
    for (const key of ['20260301', '20260301_0200_scratch', '20260302']) {
      expect(await exists(path.join(fleet.backupRoot(HOST), key))).toBe(false);
      expect(await manifestOnTarget(fleet, HOST, key)).toBe(false);
    }
    expect(await metadataKeys(fleet, HOST)).toEqual([keys.pre_change, '20260303']);
    expect(JSON.parse((await cli(['expire', '--json'])).stdout).backups).toEqual([]);
  });

  it('retire refuses a pre_change whose change is not verified, then retires it once it is', async () => {
    const key = keys.pre_change!;
    const refused = await cli(['retire', key]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('the change CHG-9 that cli-01/');
    expect(refused.stderr).toContain('is not verified');
    expect(await exists(path.join(fleet.backupRoot(HOST), key))).toBe(true);
    expect((await cli(['change', 'verify', 'CHG-9', '--by', 'alice'])).code).toBe(0);
    const retired = await cli(['retire', key, '--host', HOST, '--by', 'alice']);
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.stdout.trim()).toBe(`retired ${HOST}/${key}`);
    expect(await exists(path.join(fleet.backupRoot(HOST), key))).toBe(false);
    expect(await manifestOnTarget(fleet, HOST, key)).toBe(false);
    const row = await fleet.iso.pool.query(
      'SELECT lifecycle, retired_by, entry FROM backups WHERE key = $1',
      [key],
    );
    // The row stays, with its history: the seed entry now says retired.
    expect(row.rows[0]).toMatchObject({
      lifecycle: 'retired',
      retired_by: 'alice',
      entry: { status: 'retired' },
    });
    expect((await cli(['retire', 'nope'])).code).toBe(3);
    expect((await cli(['retire', '20260303'])).code).toBe(2);
  });

  it('gc --dry-run says what it would delete; gc deletes it; report --json answers every question', async () => {
    const dry = await cli(['gc', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /^gc at \S+ \(dry run\), grace 24 h, candidates from Postgres' record of each target\n/,
    );
    expect(dry.stdout).toMatch(/\nsecond +\d+ +\d+ +\d+ +\d+ +\d+ +1 +0\n$/);
    const report = JSON.parse((await cli(['report', '--json'])).stdout);
    expect(Object.keys(report).sort()).toEqual(
      [
        'at',
        'ending',
        'expiringSoon',
        'incomplete',
        'massChanges',
        'needsVerification',
        'noRecentDrill',
        'not321',
        'overdueHosts',
        'readyForCleanup',
        'recheck',
        'rot',
        'sensitiveSkipped',
        'sharpDrops',
        'storage',
        'waitingForChange',
      ].sort(),
    );
    expect(report.storage.hosts).toEqual([
      { host: HOST, backups: 1, localBytes: 27, diskBytes: 27, uniqueBytes: 27 },
    ]);
    expect(report.storage.targets[0]).toMatchObject({ target: 'second', kind: 'fs' });
    // 20260303 is on a fs-only setup: not 3-2-1.
    expect(report.not321.map((b: { key: string }) => b.key)).toEqual(['20260303']);
    const text = await cli(['report']);
    expect(text.stdout).toContain('backups that are not 3-2-1 (1)');
  });
});
