import { describe, expect, it } from 'vitest';
import type { FleetRun } from './fleet-runs.ts';
import { type Figures, judge } from './targets.ts';

const fleetRun = (seconds: number | null): FleetRun => ({
  id: 'x',
  status: seconds === null ? 'failed' : 'verified',
  seconds,
  totalSeconds: 10,
  stages: {},
});

function figures(over: Partial<Figures> = {}): Figures {
  return {
    fleetRan: true,
    large: {
      first: fleetRun(4),
      rerun: fleetRun(1),
      peers: { cp: { first: 3, rerun: 0 }, restic: { first: 7, rerun: 3 } },
    },
    small: { first: fleetRun(2), rerun: fleetRun(1), peers: { cp: { first: 1, rerun: 0.3 } } },
    agentPeakRssBytes: 150_000_000,
    preChange: { seconds: 6, limitSeconds: 60, dailyStillRunning: true, dailyStagesAtRequest: ['snapshot'] },
    series: {
      files: 100,
      days: 3,
      changedPerDay: 1,
      notVerified: [],
      backupDiskBytes: 130,
      treeDiskBytes: 100,
      pgEmptyBytes: 1000,
      pgFirstBytes: 21_000,
      pgRerunBytes: 22_000,
      pgEndBytes: 31_000,
      fileVersions: 101,
      seconds: 1,
    },
    ...over,
  };
}

const byId = (f: Figures) => Object.fromEntries(judge(f).map((t) => [t.id, t]));

describe('judge: issue 11 targets from one run', () => {
  it('sets each figure beside its baseline with the ratio, and judges it against the limit', () => {
    const t = byId(figures());
    expect(t.P1!.checks[0]).toMatchObject({ value: 4, baseline: 3, limit: 1.5, pass: true });
    expect(t.P1!.checks[0]!.ratio).toBeCloseTo(4 / 3);
    expect(t.P1!.checks[1]).toMatchObject({ baseline: 7, strict: true, pass: true });
    expect(t.P1!.pass).toBe(true);
    expect(t.P3!.checks[0]).toMatchObject({ value: 1, baseline: 3, pass: true });
    expect(t.P4!.pass).toBe(true);
    expect(t.P6!).toMatchObject({ pass: false, checks: [{ value: 6, limit: 5, pass: false }] });
  });

  it('is n/a where the peer did not run, and FAIL where fleet-backup gave no figure', () => {
    const t = byId(figures());
    // No restic on the small files: P2's restic check and P3's small-file check are n/a…
    expect(t.P2!.checks[0]).toMatchObject({ baseline: null, pass: null });
    expect(t.P2!.checks[1]).toMatchObject({ value: 2, baseline: 1, pass: true });
    expect(t.P2!.pass).toBeNull();
    // …while a backup that never reached local verified fails, whatever the peer did.
    const failed = byId(figures({ large: { ...figures().large, first: fleetRun(null) } }));
    expect(failed.P1!.checks.map((c) => c.pass)).toEqual([false, false]);
    expect(failed.P1!.pass).toBe(false);
  });

  it('a ratio at the limit passes, except where the target says faster', () => {
    const f = figures();
    f.large.first = fleetRun(6);
    f.large.peers = { cp: { first: 4, rerun: 0 }, restic: { first: 6, rerun: 3 } };
    const t = byId(f);
    expect(t.P1!.checks.map((c) => c.pass)).toEqual([true, false]);
  });

  it('P5: disk per tree, re-run growth per first backup, catalog bytes per file version', () => {
    const [disk, rerun, perVersion] = byId(figures()).P5!.checks;
    expect(disk).toMatchObject({ value: 1.3, pass: true });
    expect(rerun).toMatchObject({ value: 0.05, pass: true });
    expect(perVersion!.value).toBeCloseTo(30_000 / 101);
    expect(perVersion!.pass).toBe(true);
  });

  it('nothing is judged when fleet-backup did not run', () => {
    const t = judge({ ...figures(), fleetRan: false });
    expect(t.every((x) => x.pass === null && x.checks.every((c) => c.pass === null))).toBe(true);
  });
});
