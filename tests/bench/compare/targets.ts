// Issue 11's targets P1–P6, judged from the figures of one run: each check holds our figure, the
// baseline beside it, the ratio and the limit, and passes, fails, or is n/a (its peer not run).
import type { FleetRun, PreChangeWait } from './fleet-runs.ts';
import type { Peer, PeerFigures } from './peers.ts';
import type { SeriesFigures } from './series.ts';

export interface Check {
  label: string;
  value: number | null;
  unit: 's' | 'B' | 'ratio';
  baseline: number | null;
  baselineName: string | null;
  /** value / baseline (or the measured ratio itself when there is no baseline). */
  ratio: number | null;
  /** The bound on `ratio`, or on `value` when there is no baseline. */
  limit: number;
  /** The ratio must stay below the limit, not merely reach it ("faster than"). */
  strict: boolean;
  /** true: within the limit; false: not (or no figure); null: n/a, something it needs was not run. */
  pass: boolean | null;
}

export interface TargetResult {
  id: string;
  work: string;
  target: string;
  checks: Check[];
  pass: boolean | null;
}

export type PeerSet = Partial<Record<Peer, PeerFigures>>;

export interface Figures {
  fleetRan: boolean;
  large: { first: FleetRun | null; rerun: FleetRun | null; peers: PeerSet };
  small: { first: FleetRun | null; rerun: FleetRun | null; peers: PeerSet };
  agentPeakRssBytes: number | null;
  preChange: PreChangeWait | null;
  series: SeriesFigures | null;
}

const RSS_LIMIT = 200_000_000;

/** Our figure against a peer's: ratio ≤ limit (or < limit when `strict`). */
function vsPeer(
  f: Figures,
  label: string,
  value: number | null | undefined,
  peer: PeerFigures | undefined,
  which: 'first' | 'rerun',
  name: string,
  limit: number,
  strict = false,
): Check {
  const baseline = peer?.[which] ?? null;
  const v = value ?? null;
  const ratio = v !== null && baseline ? v / baseline : null;
  let pass: boolean | null = null;
  if (f.fleetRan && baseline !== null) pass = ratio !== null && (strict ? ratio < limit : ratio <= limit);
  return { label, value: v, unit: 's', baseline, baselineName: name, ratio, limit, strict, pass };
}

/** A figure against a fixed bound (or a ratio of two of our own figures). */
function bound(f: Figures, label: string, value: number | null, unit: Check['unit'], limit: number): Check {
  const pass = f.fleetRan ? value !== null && value <= limit : null;
  return {
    label,
    value,
    unit,
    baseline: null,
    baselineName: null,
    ratio: unit === 'ratio' ? value : null,
    limit,
    strict: false,
    pass,
  };
}

function ratioOf(a: number, b: number): number | null {
  return b > 0 ? a / b : null;
}

export function judge(f: Figures): TargetResult[] {
  const { large, small, series: s } = f;
  const rerunGrowth = s ? ratioOf(s.pgRerunBytes - s.pgFirstBytes, s.pgFirstBytes - s.pgEmptyBytes) : null;
  const perVersion = s ? ratioOf(s.pgEndBytes - s.pgEmptyBytes, s.fileVersions) : null;
  const targets: Omit<TargetResult, 'pass'>[] = [
    {
      id: 'P1',
      work: 'large file, first backup to local verified',
      target: '≤ 1.5× cp -r + sync, and faster than restic',
      checks: [
        vsPeer(f, 'vs cp -r + sync', large.first?.seconds, large.peers.cp, 'first', 'cp -r + sync', 1.5),
        vsPeer(f, 'vs restic', large.first?.seconds, large.peers.restic, 'first', 'restic backup', 1, true),
      ],
    },
    {
      id: 'P2',
      work: 'small files, first backup to local verified',
      target: 'faster than restic, and ≤ 3× cp -r + sync',
      checks: [
        vsPeer(f, 'vs restic', small.first?.seconds, small.peers.restic, 'first', 'restic backup', 1, true),
        vsPeer(f, 'vs cp -r + sync', small.first?.seconds, small.peers.cp, 'first', 'cp -r + sync', 3),
      ],
    },
    {
      id: 'P3',
      work: 'unchanged re-run of each data set',
      target: "≤ 0.5× restic's re-run",
      checks: [
        vsPeer(f, 'large file', large.rerun?.seconds, large.peers.restic, 'rerun', 'restic re-run', 0.5),
        vsPeer(f, 'small files', small.rerun?.seconds, small.peers.restic, 'rerun', 'restic re-run', 0.5),
      ],
    },
    {
      id: 'P4',
      work: 'peak RSS (VmHWM) of the agent during P1–P3 and P6',
      target: '≤ 200 MB',
      checks: [bound(f, 'agent VmHWM', f.agentPeakRssBytes, 'B', RSS_LIMIT)],
    },
    {
      id: 'P5',
      work: `${s?.days ?? 30} dailies of ${s?.files ?? '?'} files, 1% changed a day (simulated clock)`,
      target: 'disk ≤ 1.35× tree; pg growth per unchanged re-run ≤ 5% of the first; ≤ 300 B per file version',
      checks: [
        bound(
          f,
          'local disk (du) / tree',
          s ? ratioOf(s.backupDiskBytes, s.treeDiskBytes) : null,
          'ratio',
          1.35,
        ),
        bound(f, 'pg growth, unchanged re-run / first', rerunGrowth, 'ratio', 0.05),
        bound(f, 'catalog bytes per file version', perVersion, 'B', 300),
      ],
    },
    {
      id: 'P6',
      work: 'pre-change requested while a small-file daily runs, same host',
      target: 'its snapshot starts within 5 s',
      checks: [bound(f, 'request → snapshot start', f.preChange?.seconds ?? null, 's', 5)],
    },
  ];
  return targets.map((t) => ({ ...t, pass: overall(t.checks) }));
}

function overall(checks: Check[]): boolean | null {
  if (checks.some((c) => c.pass === false)) return false;
  return checks.every((c) => c.pass === true) ? true : null;
}
