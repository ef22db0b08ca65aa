import { describe, expect, it } from 'vitest';
import { judge, type OffsiteFigures } from './targets.ts';

const h = (objects: number, bytes: number) => ({ objects, bytes });

function figures(over: Partial<OffsiteFigures> = {}): OffsiteFigures {
  return {
    fleetRan: true,
    files: 2000,
    small: {
      fleet: {
        id: 'a',
        status: 'verified',
        seconds: 2,
        localSeconds: 1,
        added: { s3: h(10, 1e6), gcs: h(30, 1e6) },
      },
      cp: { seconds: 0.5 },
      restic: { seconds: 1, holdings: h(8, 1e6) },
      resticS3: { seconds: null, error: 'restic cannot use s3rver' },
      restore: {
        fleet: { s3: { seconds: 3 }, gcs: { seconds: null, error: 'exit 1' } },
        restic: { seconds: 1.5 },
        resticS3: null,
      },
    },
    large: {
      fleet: { id: 'b', status: 'verified', seconds: 9, localSeconds: 3, added: { s3: h(2, 8e6) } },
      cp: null,
      restic: null,
      resticS3: null,
      restore: null,
    },
    series: {
      what: 'a tree',
      days: 3,
      fullBytes: 1000,
      changedPerDay: '1%',
      notVerified: [],
      fleetSeconds: [1, 1, 1],
      // s3: at most 2 × 10 + 1000/30 = 53.3 bytes a day; gcs read 60 on day 3.
      readBack: [
        { day: 2, target: 's3', read: 40, added: 10 },
        { day: 3, target: 's3', read: 50, added: 10 },
        { day: 2, target: 'gcs', read: 40, added: 10 },
        { day: 3, target: 'gcs', read: 60, added: 10 },
      ],
      stored: { s3: h(5, 1350), gcs: h(5, 1400) },
      restic: h(3, 1100),
    },
    dbSeries: {
      what: 'a db',
      days: 3,
      fullBytes: 1000,
      changedPerDay: '1%',
      notVerified: [],
      fleetSeconds: [1, 1, 1],
      readBack: [],
      stored: { s3: h(5, 1100), gcs: h(5, 1300) },
      restic: h(3, 1200),
    },
    peakRss: { agent: 150e6, 'pool worker': 210e6 },
    ...over,
  };
}

const byId = (f: OffsiteFigures) => Object.fromEntries(judge(f).map((t) => [t.id, t]));

describe('judge: issue 12 targets from one run', () => {
  it('O1: the 30 s scale with the files; objects written per target against 1% of the files', () => {
    const [time, s3, gcs] = byId(figures()).O1!.checks;
    expect(time).toMatchObject({ value: 2, limit: 3, pass: true });
    expect(s3).toMatchObject({ value: 0.005, limit: 0.01, pass: true });
    expect(gcs).toMatchObject({ value: 0.015, pass: false });
    expect(byId(figures()).O1!.pass).toBe(false);
  });

  it('O2 and O4 against restic, n/a where restic has no figure, FAIL where fleet-backup has none', () => {
    const t = byId(figures());
    expect(t.O2).toMatchObject({ pass: null, checks: [{ value: 9, baseline: null, pass: null }] });
    const [s3, gcs] = t.O4!.checks;
    expect(s3).toMatchObject({ value: 3, baseline: 1.5, ratio: 2, pass: true });
    expect(gcs).toMatchObject({ value: null, pass: false });
  });

  it('O3 against one full copy and the read-back limit, O3b against restic growth, in bytes', () => {
    const t = byId(figures());
    expect(t.O3!.checks.map((c) => [c.label, c.value?.toFixed(3), c.pass])).toEqual([
      ['s3: bytes stored / one full copy', '1.350', true],
      ['s3: most read back by a daily / (2× added + 1/30)', (50 / (20 + 1000 / 30)).toFixed(3), true],
      ['gcs: bytes stored / one full copy', '1.400', false],
      ['gcs: most read back by a daily / (2× added + 1/30)', (60 / (20 + 1000 / 30)).toFixed(3), false],
    ]);
    expect(t.O3b!.checks[0]).toMatchObject({ unit: 'B', value: 1100, baseline: 1200, pass: true });
    expect(t.O3b!.checks[1]).toMatchObject({ value: 1300, pass: false });
  });

  it('O5 per role; works that did not run are left out; nothing judged without fleet-backup', () => {
    expect(byId(figures()).O5!.checks.map((c) => c.pass)).toEqual([true, false]);
    const partial = byId(figures({ series: null, dbSeries: null, peakRss: null }));
    expect(Object.keys(partial)).toEqual(['O1', 'O2', 'O4']);
    const none = judge(figures({ fleetRan: false }));
    expect(none.every((t) => t.pass === null && t.checks.every((c) => c.pass === null))).toBe(true);
  });

  it('O2 and O4 floors: the faster of one by one and all at once, against restic', () => {
    const large = {
      ...figures().large,
      restic: { seconds: 5 },
      restore: { fleet: {}, restic: { seconds: 3 }, resticS3: null },
      floor: { targets: { s3: { put: 4, get: 3 }, gcs: { put: 5, get: 7 } }, both: { put: 6, get: 6 } },
    };
    const t = byId(figures({ large }));
    // One by one 19 s, at once 12 s: 12 / 5 = 2.4 ≤ 3.
    expect(t['O2 floor']!.checks[0]).toMatchObject({ value: 12, ratio: 2.4, pass: true });
    expect(t['O4 floor']!.checks.map((c) => [c.label, c.ratio, c.pass])).toEqual([
      ['bare get from s3', 1, true],
      ['bare get from gcs', 7 / 3, false],
    ]);
  });
});
