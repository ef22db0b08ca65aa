// The run's figures as a person reads them: each work with fleet-backup beside every peer, then
// each target with our figure, its baseline, the ratio and PASS / FAIL.
import type { FleetRun } from './fleet-runs.ts';
import type { Check, Figures, PeerSet, TargetResult } from './targets.ts';

const secs = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${n.toFixed(2)} s`);
const mb = (n: number | null) => (n === null ? '—' : `${(n / 1e6).toFixed(1)} MB`);

function fleetCell(run: FleetRun | null): string {
  if (!run) return '—';
  if (run.seconds === null) return `${run.status} (${run.reason ?? 'no local verified'})`.slice(0, 60);
  const stages = ['snapshot', 'hash']
    .filter((s) => run.stages[s] !== undefined)
    .map((s) => `${s} ${run.stages[s]!.toFixed(2)}`)
    .join(', ');
  return `${secs(run.seconds)}${stages ? ` (${stages})` : ''}`;
}

/** Rows as aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function figuresTable(f: Figures, labels: { large: string; small: string }): string {
  const peer = (set: PeerSet, name: keyof PeerSet, which: 'first' | 'rerun') => secs(set[name]?.[which]);
  const rows = [['work', 'fleet-backup', 'cp -r + sync', 'cp -al', 'rsync -a', 'restic', 'borg']];
  for (const [label, d] of [
    [labels.large, f.large],
    [labels.small, f.small],
  ] as const) {
    rows.push([
      `${label}, first`,
      fleetCell(d.first),
      peer(d.peers, 'cp', 'first'),
      '',
      peer(d.peers, 'rsync', 'first'),
      peer(d.peers, 'restic', 'first'),
      peer(d.peers, 'borg', 'first'),
    ]);
    rows.push([
      `${label}, unchanged re-run`,
      fleetCell(d.rerun),
      '',
      peer(d.peers, 'cp', 'rerun'),
      `${peer(d.peers, 'rsync', 'rerun')}${d.peers.rsync ? ' (--link-dest)' : ''}`,
      peer(d.peers, 'restic', 'rerun'),
      peer(d.peers, 'borg', 'rerun'),
    ]);
  }
  return table(rows);
}

function valueText(c: Check): string {
  if (c.value === null) return '—';
  if (c.unit === 's') return secs(c.value);
  if (c.unit === 'B') return c.value >= 1e5 ? mb(c.value) : `${Math.round(c.value)} B`;
  return `${c.value.toFixed(3)}×`;
}

function limitText(c: Check): string {
  if (c.baselineName || c.unit === 'ratio') return `${c.strict ? '<' : '≤'} ${c.limit.toFixed(2)}`;
  if (c.unit === 'B') return c.limit >= 1e5 ? `≤ ${mb(c.limit)}` : `≤ ${c.limit} B`;
  return `≤ ${c.limit} s`;
}

/** A baseline in its check's unit: seconds, or bytes for a size compared with a peer's. */
const baselineText = (c: Check) => (c.unit === 'B' ? mb(c.baseline) : secs(c.baseline));

const verdict = (p: boolean | null) => (p === null ? 'n/a' : p ? 'PASS' : 'FAIL');

export function targetsTable(targets: TargetResult[]): string {
  const rows = [['id', 'check', 'fleet-backup', 'baseline', 'ratio', 'limit', 'result']];
  for (const t of targets) {
    for (const c of t.checks) {
      rows.push([
        t.id,
        c.label,
        valueText(c),
        c.baselineName ? `${c.baselineName} ${baselineText(c)}` : '',
        c.baselineName && c.ratio !== null ? c.ratio.toFixed(2) : '',
        limitText(c),
        verdict(c.pass),
      ]);
    }
  }
  const summary = targets.map((t) => `${t.id} ${verdict(t.pass)}`).join('  ');
  return `${table(rows)}\n\n${summary}`;
}
