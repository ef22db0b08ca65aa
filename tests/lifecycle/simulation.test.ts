import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  buildReport,
  type Report,
  RetireRefused,
  retireBackup,
  runExpire,
  runGc,
  verifyChange,
} from '@fleet-backup/runtime';
import { indexPacks } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobsOnTarget,
  createFleet,
  exists,
  type Fleet,
  manifestOnTarget,
  metadataKeys,
  missingReferencedBlobs,
  rows,
  targetOf,
} from './fleet.ts';

const services = await serviceUrls();
const DAY = 86_400_000;
const HOUR = 3_600_000;
const START = Date.parse('2026-03-01T02:00:00.000Z');
const DAYS = 40;
// db-01 backs up on days 0-5, its day-6 daily fails (source gone), then it stops for good.
const HOSTS = ['app-01', 'db-01', 'web-01'];
const DB_LAST_GOOD = 5;
const DB_FAILED = 6;

/** YYYYMMDD of simulated day d. */
const dayKey = (d: number) => new Date(START + d * DAY).toISOString().slice(0, 10).replaceAll('-', '');

/** What each named backup's lifecycle must be after day d's expire run ('kept' = still a plain backup). */
function expectedState(name: string, d: number): string | undefined {
  const from = (created: number, ...steps: [number, string][]) => {
    if (d < created) return undefined;
    let state = 'kept';
    for (const [day, s] of steps) if (d >= day) state = s;
    return state;
  };
  switch (name) {
    case 'M5': // manual days_5 made on day 2: expires at created + 5 days
      return from(2, [7, 'expired']);
    case 'MP': // manual permanent
      return from(2);
    case 'P1': // until_verified, change verified day 5, retired by hand on day 20
      return from(3, [5, 'verified'], [20, 'retired']);
    case 'P2': // until_verified, change never verified
      return from(3);
    case 'P3': // permanent, change verified day 4
      return from(3, [4, 'verified']);
    case 'P4': // days_3 made day 4, change verified day 5: retires at created + 3 days
      return from(4, [5, 'verified'], [7, 'retired']);
    case 'P5': // until_verified, verified day 30 once automatic retirement (2 days) is on
      return from(25, [30, 'verified'], [32, 'retired']);
  }
  return undefined;
}
const NAMES = ['M5', 'MP', 'P1', 'P2', 'P3', 'P4', 'P5'];

/** Kept dailies (by day index) a host must have after day d's expire run. */
function expectedDailies(host: string, d: number): number[] {
  const made = host === 'db-01' ? Math.min(d, DB_FAILED) : d;
  const days = Array.from({ length: made + 1 }, (_, i) => i).filter((i) => i > d - 30);
  if (host === 'db-01' && d >= DB_LAST_GOOD && !days.includes(DB_LAST_GOOD)) days.unshift(DB_LAST_GOOD);
  return days;
}

describe.skipIf(!services)('40 days of a small fleet (ManualClock, real pipeline, fs target)', () => {
  let fleet: Fleet;
  const ids: Record<string, string> = {};
  const observed: Record<string, (string | undefined)[]> = Object.fromEntries(NAMES.map((n) => [n, []]));
  const keptDailies: Record<string, number[][]> = Object.fromEntries(HOSTS.map((h) => [h, []]));
  const problems: string[] = [];
  const secondRuns: number[] = [];
  const refusals: string[] = [];
  let reportDay10: Report;
  let reportDay25: Report;

  async function at(ms: number): Promise<void> {
    fleet.clock.advance(ms - fleet.clock.now().getTime());
  }

  async function writeSources(d: number): Promise<void> {
    for (const host of HOSTS) {
      if (host === 'db-01' && d >= DB_FAILED) continue;
      // One file identical everywhere (a blob shared by every backup) and one new each day.
      await writeFile(path.join(fleet.sourceDir(host), 'app.conf'), 'shared = true\n');
      await writeFile(path.join(fleet.sourceDir(host), 'day.txt'), `${host} day ${d}\n`);
    }
    if (d === DB_FAILED) await rm(fleet.sourceDir('db-01'), { recursive: true, force: true });
  }

  async function events(d: number): Promise<void> {
    const web = { host: 'web-01', paths: [fleet.sourceDir('web-01')] };
    const pre = (ticket: string, extra: object = {}) =>
      fleet.backup({ ...web, kind: 'pre_change', description: `before ${ticket}`, ticket, ...extra });
    const verify = (ticket: string) => verifyChange(fleet.rt, { ticket, by: 'sim', via: 'test' });
    if (d === 2) {
      ids.M5 = await fleet.backup({ ...web, kind: 'manual', purpose: 'short', retention: 'days_5' });
      ids.MP = await fleet.backup({ ...web, kind: 'manual', purpose: 'keep', retention: 'permanent' });
    }
    if (d === 3) {
      ids.P1 = await pre('CHG-1');
      ids.P2 = await pre('CHG-2');
      ids.P3 = await pre('CHG-3', { retention: 'permanent' });
    }
    if (d === 4) {
      ids.P4 = await pre('CHG-4', { retention: 'days_3' });
      await verify('CHG-3');
    }
    if (d === 5) {
      await verify('CHG-1');
      await verify('CHG-4');
    }
    if (d === 20) {
      for (const name of ['P2', 'P3']) {
        await retireBackup(fleet.rt, { id: ids[name]! }, { by: 'sim' }).catch((err: Error) => {
          refusals.push(`${name}: ${err instanceof RetireRefused ? 'refused' : 'ERROR'}: ${err.message}`);
        });
      }
      await retireBackup(fleet.rt, { id: ids.P1! }, { by: 'sim', waitMs: 10_000 });
    }
    if (d === 25) ids.P5 = await pre('CHG-5');
    if (d === 30) {
      // The installation opts in to automatic retirement, 2 days after verification.
      fleet.rt.config.lifecycle.autoRetireDays = 2;
      await verify('CHG-5');
    }
  }

  /** Every backup's copies match its lifecycle: kept ones whole and listed, gone ones removed and unlisted. */
  async function checkCopies(d: number): Promise<void> {
    const listed = new Map<string, string[]>();
    for (const host of HOSTS) listed.set(host, await metadataKeys(fleet, host));
    for (const b of await rows(fleet)) {
      const where = `day ${d} ${b.host}/${b.key}`;
      const dir = await exists(path.join(fleet.backupRoot(b.host), b.key));
      const manifest = await manifestOnTarget(fleet, b.host, b.key);
      const inMetadata = listed.get(b.host)?.includes(b.key) ?? false;
      if (b.lifecycle === 'expiring' || b.lifecycle === 'retiring')
        problems.push(`${where}: left ${b.lifecycle}`);
      const gone = b.lifecycle === 'expired' || b.lifecycle === 'retired';
      if (gone && (dir || manifest || inMetadata))
        problems.push(`${where}: ${b.lifecycle} but a copy or entry remains`);
      if (!gone && b.status === 'verified' && !(dir && manifest && inMetadata)) {
        problems.push(`${where}: kept but dir ${dir}, manifest ${manifest}, listed ${inMetadata}`);
      }
    }
  }

  /** gc keeps every live blob, and of the unreferenced ones only those released within the grace period. */
  async function checkBlobs(d: number, releasedToday: Set<string>): Promise<void> {
    const live = new Set(
      (
        await fleet.iso.pool.query<{ sha256: string }>(
          `SELECT DISTINCT f.sha256 FROM backup_files f JOIN backups b ON b.id = f.backup_id
           WHERE b.lifecycle IS NULL OR b.lifecycle NOT IN ('expired', 'retired')`,
        )
      ).rows.map((r) => r.sha256),
    );
    const onTarget = await blobsOnTarget(fleet);
    for (const sha of live) if (!onTarget.has(sha)) problems.push(`day ${d}: live blob ${sha} missing`);
    const expected = [...releasedToday].filter((s) => !live.has(s)).sort();
    const inPacks = await indexPacks(targetOf(fleet));
    // A dead blob may stay inside a pack that is still mostly live (over REPACK_LIVE_PERCENT): its
    // bytes go when the pack is repacked; and in a pack a repack released, for the grace period.
    // Anywhere else it is gc's to delete after the grace period.
    const graceStart = new Date(
      fleet.clock.now().getTime() - fleet.rt.config.lifecycle.blobGraceHours * 3_600_000,
    );
    const released = new Set(
      (
        await fleet.iso.pool.query<{ sha256: string }>(
          'SELECT sha256 FROM target_packs WHERE released_at >= $1',
          [graceStart],
        )
      ).rows.map((r) => r.sha256),
    );
    const keptInLivePack = (sha: string) => {
      const pack = inPacks.get(sha)?.pack;
      if (!pack) return false;
      if (released.has(pack)) return true;
      let liveBytes = 0;
      let allBytes = 0;
      for (const [blob, p] of inPacks) {
        if (p.pack !== pack) continue;
        allBytes += p.length;
        if (live.has(blob)) liveBytes += p.length;
      }
      return liveBytes > allBytes / 2;
    };
    const extra = [...onTarget]
      .filter((s) => !live.has(s) && (expected.includes(s) || !keptInLivePack(s)))
      .sort();
    if (JSON.stringify(extra) !== JSON.stringify(expected)) {
      problems.push(`day ${d}: unreferenced blobs on target ${extra.length}, expected ${expected.length}`);
    }
    for (const m of await missingReferencedBlobs(fleet)) problems.push(`day ${d}: ${m}`);
  }

  async function releasedBetween(from: Date): Promise<Set<string>> {
    const r = await fleet.iso.pool.query<{ sha256: string }>(
      `SELECT DISTINCT f.sha256 FROM backup_files f JOIN backups b ON b.id = f.backup_id
       WHERE b.lifecycle IN ('expired', 'retired') AND b.lifecycle_changed_at >= $1`,
      [from],
    );
    return new Set(r.rows.map((row) => row.sha256));
  }

  /** Records each named backup's lifecycle and each host's kept dailies after day d. */
  async function observe(): Promise<void> {
    const all = await rows(fleet);
    for (const name of NAMES) {
      const row = all.find((r) => r.id === ids[name]);
      observed[name]?.push(row ? (row.lifecycle ?? 'kept') : undefined);
    }
    for (const host of HOSTS) {
      const days = all
        .filter((r) => r.host === host && r.kind === 'daily' && r.lifecycle === null)
        .map((r) => Array.from({ length: DAYS }, (_, i) => i).find((i) => dayKey(i) === r.key) ?? -1);
      keptDailies[host]?.push(days);
    }
  }

  /** One day: 02:00 dailies and events, 03:00 expire (twice), 04:00 gc, then the checks. */
  async function simulateDay(d: number): Promise<void> {
    await at(START + d * DAY);
    await writeSources(d);
    const active = HOSTS.filter((h) => h !== 'db-01' || d <= DB_FAILED);
    await Promise.all(
      active.map((host) => fleet.backup({ host, kind: 'daily', paths: [fleet.sourceDir(host)] })),
    );
    await events(d);
    await at(START + d * DAY + HOUR);
    const expireStarted = fleet.clock.now();
    await runExpire(fleet.rt, { waitMs: 20_000 });
    const before = JSON.stringify(await rows(fleet));
    secondRuns.push((await runExpire(fleet.rt, { waitMs: 5_000 })).backups.length);
    if (JSON.stringify(await rows(fleet)) !== before)
      problems.push(`day ${d}: a second expire run changed rows`);
    await at(START + d * DAY + 2 * HOUR);
    await runGc(fleet.rt);
    if (d === 10) reportDay10 = await buildReport(fleet.rt);
    if (d === 25) reportDay25 = await buildReport(fleet.rt);
    await checkCopies(d);
    await checkBlobs(d, await releasedBetween(expireStarted));
    await observe();
  }

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-sim', {
      hosts: HOSTS,
      start: new Date(START).toISOString(),
    });
    for (let d = 0; d < DAYS; d++) await simulateDay(d);
  }, 170_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('keeps exactly the last 30 dailies per active host, every day', () => {
    for (const host of ['app-01', 'web-01']) {
      const want = Array.from({ length: DAYS }, (_, d) => expectedDailies(host, d));
      expect(keptDailies[host]).toEqual(want);
      expect(keptDailies[host]?.[DAYS - 1]).toHaveLength(30);
    }
  });

  it("never expires a host's newest verified daily, and expires its newer failed one", () => {
    const want = Array.from({ length: DAYS }, (_, d) => expectedDailies('db-01', d));
    expect(keptDailies['db-01']).toEqual(want);
    expect(keptDailies['db-01']?.[DAYS - 1]).toEqual([DB_LAST_GOOD]);
  });

  it('runs pre-change and manual lifecycles day by day', () => {
    for (const name of NAMES) {
      const want = Array.from({ length: DAYS }, (_, d) => expectedState(name, d));
      expect({ name, states: observed[name] }).toEqual({ name, states: want });
    }
  });

  it('refuses to retire by hand a backup whose change is not verified, or a permanent one', () => {
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toMatch(/^P2: refused: the change CHG-2 that web-01\/.* protects is not verified/);
    expect(refusals[1]).toMatch(/^P3: refused: web-01\/.* is permanent/);
  });

  it('removes every copy of what goes, keeps every copy of what stays, and gc keeps every live blob', () => {
    expect(problems).toEqual([]);
  });

  it('is idempotent: a second run the same hour finds nothing to do and changes nothing', () => {
    expect(secondRuns).toEqual(Array(DAYS).fill(0));
  });

  it('reports what waits for a person, what expires soon, and overdue hosts', () => {
    expect(reportDay10.readyForCleanup.map((b) => b.ticket)).toEqual(['CHG-1']);
    expect(reportDay10.waitingForChange.map((b) => b.ticket)).toEqual(['CHG-2']);
    expect(reportDay10.overdueHosts.map((h) => h.host)).toEqual(['db-01']);
    const soon = reportDay25.expiringSoon
      .filter((b) => b.kind === 'daily' && b.host === 'app-01')
      .map((b) => b.key);
    expect(soon).toEqual([dayKey(0), dayKey(1), dayKey(2)]);
    expect(reportDay25.storage.targets[0]?.measuredBytes).toBeGreaterThan(0);
  });
});
