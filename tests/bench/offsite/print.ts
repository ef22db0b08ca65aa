// The run's figures as a person reads them: each work with fleet-backup beside its peers (each
// peer's cell with fleet-backup's time over the peer's), then what each target holds.
import { table } from '../compare/print.ts';
import type { Holdings } from './objects.ts';
import type { DataSetFigures, OffsiteFigures, PeerRun, SeriesFigures } from './targets.ts';

const secs = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${n.toFixed(2)} s`);
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const int = (n: number) => n.toLocaleString('en-US');

function peerCell(fleet: number | null | undefined, peer: PeerRun | null): string {
  if (!peer) return '';
  if (peer.seconds === null) return peer.error ? 'failed (see notes)' : '—';
  const ratio = fleet ? ` (${(fleet / peer.seconds).toFixed(1)}×)` : '';
  return `${secs(peer.seconds)}${ratio}`;
}

/** Backups and restores: seconds, with fleet-backup's ratio to each peer. */
export function timesTable(f: OffsiteFigures, labels: { small: string; large: string }): string {
  const rows = [['work', 'fleet-backup', 'cp -r + sync', 'restic (local repo)', 'restic (s3rver)']];
  const sets: [string, DataSetFigures][] = [
    [labels.small, f.small],
    [labels.large, f.large],
  ];
  for (const [label, d] of sets) {
    if (!d.fleet && !d.cp && !d.restic && !d.resticS3) continue;
    const fleet = d.fleet?.seconds;
    const fleetText = d.fleet
      ? d.fleet.seconds === null
        ? `${d.fleet.status} (${d.fleet.reason ?? ''})`.slice(0, 60)
        : `${secs(d.fleet.seconds)} (local verified ${secs(d.fleet.localSeconds)})`
      : '—';
    rows.push([
      `${label}, first backup to every copy verified`,
      fleetText,
      peerCell(fleet, d.cp),
      peerCell(fleet, d.restic),
      peerCell(fleet, d.resticS3),
    ]);
  }
  for (const [label, d] of sets) {
    if (!d.restore) continue;
    const targets = Object.entries(d.restore.fleet);
    if (!targets.length) targets.push(['—', { seconds: null }]);
    for (const [t, run] of targets)
      rows.push([
        `restore ${label} from ${t}`,
        run.seconds === null ? (run.error ? 'failed (see notes)' : '—') : secs(run.seconds),
        '',
        peerCell(run.seconds, d.restore.restic),
        peerCell(run.seconds, d.restore.resticS3),
      ]);
  }
  return `${table(rows)}\n(in a peer's column: its seconds, and fleet-backup's over them)`;
}

const objects = (h: Holdings | null | undefined) => (h ? `${int(h.objects)} (${mb(h.bytes)})` : '');

/** What each target (and restic's repositories) holds per work: objects and bytes written. */
export function storageTable(f: OffsiteFigures): string {
  const names = new Set<string>([
    ...Object.keys(f.small.fleet?.added ?? {}),
    ...Object.keys(f.large.fleet?.added ?? {}),
    ...Object.keys(f.series?.stored ?? {}),
    ...Object.keys(f.dbSeries?.stored ?? {}),
  ]);
  const rows = [
    [
      'where',
      'small files: objects (bytes)',
      'per file',
      'large file: objects (bytes)',
      'O3 series stored',
      'O3b series stored',
    ],
  ];
  const series = (s: SeriesFigures | null, h: Holdings | null | undefined) =>
    s && h ? `${mb(h.bytes)} (${(h.bytes / s.fullBytes).toFixed(2)}× one copy)` : '';
  for (const t of names) {
    const small = f.small.fleet?.added[t];
    rows.push([
      t,
      objects(small),
      small ? (small.objects / f.files).toFixed(3) : '',
      objects(f.large.fleet?.added[t]),
      series(f.series, f.series?.stored[t]),
      series(f.dbSeries, f.dbSeries?.stored[t]),
    ]);
  }
  const r = (p: PeerRun | null) => p?.holdings;
  if (f.small.restic || f.large.restic || f.series?.restic || f.dbSeries?.restic) {
    const small = r(f.small.restic);
    rows.push([
      'restic (local repo)',
      objects(small),
      small ? (small.objects / f.files).toFixed(3) : '',
      objects(r(f.large.restic)),
      series(f.series, f.series?.restic),
      series(f.dbSeries, f.dbSeries?.restic),
    ]);
  }
  if (r(f.small.resticS3) || r(f.large.resticS3)) {
    const small = r(f.small.resticS3);
    rows.push([
      'restic (s3rver)',
      objects(small),
      small ? (small.objects / f.files).toFixed(3) : '',
      objects(r(f.large.resticS3)),
      '',
      '',
    ]);
  }
  return table(rows);
}

export function extraLines(f: OffsiteFigures): string[] {
  const lines: string[] = [];
  for (const s of [f.series, f.dbSeries]) {
    if (!s) continue;
    const verified = s.fleetSeconds.filter((x): x is number => x !== null);
    lines.push(
      `${s.what}: ${s.days} days, ${s.changedPerDay}; one full copy ${mb(s.fullBytes)}` +
        (verified.length
          ? `; fleet-backup per day to every copy verified: first ${secs(s.fleetSeconds[0])}, median of the rest ${secs(median(verified.slice(1)))}`
          : '') +
        (s.notVerified.length ? `; not verified: ${s.notVerified.join(', ')}` : ''),
    );
  }
  const floor = f.large.floor;
  if (floor)
    lines.push(
      `floor, bare SDK transfers of the large file: ${Object.entries(floor.targets)
        .map(([t, x]) => `${t} put ${secs(x.put)}, get ${secs(x.get)}`)
        .join('; ')}; every stand-in at once: put ${secs(floor.both.put)}, get ${secs(floor.both.get)}`,
    );
  if (f.peakRss)
    lines.push(
      `peak RSS (VmHWM) over the run: ${Object.entries(f.peakRss)
        .map(([role, b]) => `${role} ${b === null ? '—' : mb(b)}`)
        .join(', ')}`,
    );
  return lines;
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
