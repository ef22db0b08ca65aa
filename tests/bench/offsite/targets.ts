// Issue 12's targets O1–O5, judged from the figures of one run, in the checks bench:compare prints
// (compare/targets.ts): our figure, the baseline beside it, the ratio, the limit and PASS / FAIL,
// or n/a where something the check needs did not run.
import type { Check, TargetResult } from '../compare/targets.ts';
import type { Holdings } from './objects.ts';

/** The file count issue 12's O1 is stated for; its 30 s scale with the files of a smaller run. */
export const O1_FILES = 20_000;
export const O1_SECONDS = 30;
const RSS_LIMIT = 200_000_000;

/** A first backup by fleet-backup to every copy `verified`, with what it added to each target. */
export interface OffsiteBackup {
  id: string | null;
  status: string;
  /** `backup --wait` from its start to every copy verified; null when it did not get there. */
  seconds: number | null;
  /** From its start to the local copy verified. */
  localSeconds: number | null;
  reason?: string;
  added: Record<string, Holdings>;
}

/** A peer's run: seconds, or why it has none. */
export interface PeerRun {
  seconds: number | null;
  error?: string;
  /** What its repository holds after the run (restic). */
  holdings?: Holdings;
}

export interface DataSetFigures {
  fleet: OffsiteBackup | null;
  cp: PeerRun | null;
  restic: PeerRun | null;
  resticS3: PeerRun | null;
  /**
   * Bare SDK transfers of the data set's file to and from each cloud stand-in, by target name:
   * one after another (`put`, `get`), and both stand-ins at once (`both`): what O2 and O4 cannot
   * beat on these stand-ins, whatever fleet-backup does.
   */
  floor?: Floor | null;
  /** fleet-backup's restore from each target, by target name, and restic's from its repositories. */
  restore: {
    fleet: Record<string, PeerRun>;
    restic: PeerRun | null;
    resticS3: PeerRun | null;
  } | null;
}

export interface DailyReadBack {
  day: number;
  target: string;
  read: number;
  added: number;
}

export interface SeriesFigures {
  what: string;
  days: number;
  /** One full copy: the data's bytes on day 1. */
  fullBytes: number;
  changedPerDay: string;
  notVerified: string[];
  /** Seconds of each day's fleet-backup run to every copy verified (null: it did not verify). */
  fleetSeconds: (number | null)[];
  /** Each daily after the first, per target: bytes read back by its verify, and bytes it added. */
  readBack: DailyReadBack[];
  /** What the series added to each target. */
  stored: Record<string, Holdings>;
  /** What the series added to restic's local repository (null: restic did not run). */
  restic: Holdings | null;
}

export interface Floor {
  targets: Record<string, { put: number; get: number }>;
  /** Every stand-in's put at once, then every stand-in's get at once: wall seconds. */
  both: { put: number; get: number };
}

export interface OffsiteFigures {
  fleetRan: boolean;
  files: number;
  small: DataSetFigures;
  large: DataSetFigures;
  series: SeriesFigures | null;
  dbSeries: SeriesFigures | null;
  /** VmHWM of each role over the run, in bytes. */
  peakRss: Record<string, number | null> | null;
}

function check(
  f: OffsiteFigures,
  label: string,
  value: number | null,
  unit: Check['unit'],
  limit: number,
  baseline?: { name: string; value: number | null },
): Check {
  const b = baseline?.value ?? null;
  const ratio = baseline ? (value !== null && b ? value / b : null) : unit === 'ratio' ? value : null;
  let pass: boolean | null = null;
  if (f.fleetRan && (!baseline || b !== null))
    pass = baseline ? ratio !== null && ratio <= limit : value !== null && value <= limit;
  return {
    label,
    value,
    unit,
    baseline: b,
    baselineName: baseline?.name ?? null,
    ratio,
    limit,
    strict: false,
    pass,
  };
}

const perObject = (h: Holdings | undefined, files: number) => (h ? h.objects / files : null);

/**
 * O3's read-back target, for the series' worst daily on one target: bytes read back over twice
 * what the daily added plus 1/30 of one full copy (the rolling re-read's share). At most 1 passes.
 */
function worstReadBack(s: SeriesFigures, target: string): number | null {
  const days = (s.readBack ?? []).filter((d) => d.target === target);
  if (!days.length) return null;
  return Math.max(...days.map((d) => d.read / (2 * d.added + s.fullBytes / 30)));
}

export function judge(f: OffsiteFigures): TargetResult[] {
  const targets: Omit<TargetResult, 'pass'>[] = [];
  const { small, large } = f;
  if (small.fleet) {
    const limit = (O1_SECONDS * f.files) / O1_FILES;
    targets.push({
      id: 'O1',
      work: `${f.files} files of 1–8 KiB, first backup to verified on every copy`,
      target: `≤ ${O1_SECONDS} s for ${O1_FILES} files; objects written per target ≤ 1% of files`,
      checks: [
        check(
          f,
          `to every copy verified (limit ${O1_SECONDS} s × files / ${O1_FILES})`,
          small.fleet.seconds,
          's',
          limit,
        ),
        ...Object.entries(small.fleet.added).map(([t, h]) =>
          check(f, `${t}: objects written / files`, perObject(h, f.files), 'ratio', 0.01),
        ),
      ],
    });
  }
  if (large.fleet)
    targets.push({
      id: 'O2',
      work: 'large file, first backup to verified on every copy',
      target: "≤ 3× restic's backup to a local repository",
      checks: [
        check(f, 'to every copy verified', large.fleet.seconds, 's', 3, {
          name: 'restic backup',
          value: large.restic?.seconds ?? null,
        }),
      ],
    });
  if (large.floor) targets.push(...floorTargets(f, large.floor, large));
  for (const [id, s, what] of [
    ['O3', f.series, 'one full copy'],
    ['O3b', f.dbSeries, 'restic growth'],
  ] as const) {
    if (!s) continue;
    targets.push({
      id,
      work: `${s.days} dailies of ${s.what}, ${s.changedPerDay}`,
      target:
        id === 'O3'
          ? 'bytes stored per target ≤ 1.35× one full copy'
          : "bytes stored per target ≤ restic's repository growth",
      checks: Object.entries(s.stored).flatMap(([t, h]) =>
        id === 'O3'
          ? [
              check(f, `${t}: bytes stored / one full copy`, h.bytes / s.fullBytes, 'ratio', 1.35),
              check(
                f,
                `${t}: most read back by a daily / (2× added + 1/30)`,
                worstReadBack(s, t),
                'ratio',
                1,
              ),
            ]
          : [check(f, `${t}: bytes stored`, h.bytes, 'B', 1, { name: what, value: s.restic?.bytes ?? null })],
      ),
    });
  }
  const restores = [
    ['small files', small.restore],
    ['large file', large.restore],
  ] as const;
  if (restores.some(([, r]) => r))
    targets.push({
      id: 'O4',
      work: 'restore of the small files and of the large file from S3 and from GCS',
      target: "≤ 2× restic's restore from a local repository",
      checks: restores.flatMap(([label, r]) =>
        r
          ? Object.entries(r.fleet).map(([t, run]) =>
              check(f, `${label} from ${t}`, run.seconds, 's', 2, {
                name: 'restic restore',
                value: r.restic?.seconds ?? null,
              }),
            )
          : [],
      ),
    });
  if (f.peakRss)
    targets.push({
      id: 'O5',
      work: 'peak RSS (VmHWM) of every role during the run',
      target: '≤ 200 MB',
      checks: Object.entries(f.peakRss).map(([role, rss]) => check(f, `${role} VmHWM`, rss, 'B', RSS_LIMIT)),
    });
  return targets.map((t) => ({ ...t, pass: overall(t.checks) }));
}

function overall(checks: Check[]): boolean | null {
  if (checks.some((c) => c.pass === false)) return false;
  return checks.length > 0 && checks.every((c) => c.pass === true) ? true : null;
}

/**
 * O2 and O4 on the stand-ins' own floor. O2's backup must at least put the file on each cloud
 * stand-in and read it back (its verify); O4's restore must at least get it. When the bare SDK
 * transfers alone exceed the target, it cannot pass on these stand-ins.
 */
function floorTargets(f: OffsiteFigures, floor: Floor, large: DataSetFigures): Omit<TargetResult, 'pass'>[] {
  const all = Object.values(floor.targets);
  const oneByOne = all.reduce((n, t) => n + t.put + t.get, 0);
  const atOnce = floor.both.put + floor.both.get;
  return [
    {
      id: 'O2 floor',
      work: 'bare SDK put and get of the large file on every cloud stand-in (the faster of one by one and all at once)',
      target: "≤ 3× restic's backup to a local repository, or O2 cannot pass on these stand-ins",
      checks: [
        check(f, 'bare put + get on every cloud stand-in', Math.min(oneByOne, atOnce), 's', 3, {
          name: 'restic backup',
          value: large.restic?.seconds ?? null,
        }),
      ],
    },
    {
      id: 'O4 floor',
      work: 'bare SDK get of the large file from each cloud stand-in',
      target: "≤ 2× restic's restore from a local repository, or O4 cannot pass on these stand-ins",
      checks: Object.entries(floor.targets).map(([t, x]) =>
        check(f, `bare get from ${t}`, x.get, 's', 2, {
          name: 'restic restore',
          value: large.restore?.restic?.seconds ?? null,
        }),
      ),
    },
  ];
}
