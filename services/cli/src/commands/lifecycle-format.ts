import type { ExpireReport, GcReport, RemovalProgress } from '@fleet-backup/runtime';
import { table } from '../table.ts';

/** `expire` as text: what goes (or went) and the bytes freed per target. */
export function formatExpire(r: ExpireReport): string {
  const n = r.backups.length;
  const verb = r.dryRun ? 'would go' : 'going';
  const head = `expire at ${r.at}${r.dryRun ? ' (dry run)' : ''}: ${n ? `${n} backup${n === 1 ? '' : 's'} ${verb}` : 'nothing to expire'}`;
  if (!n) return head;
  const results = new Map(r.results.map((p) => [p.id, p]));
  const rows = r.backups.map((b) => [
    b.host,
    b.kind,
    b.key,
    b.action,
    String(b.localBytes),
    ...(r.dryRun ? [] : [outcome(results.get(b.id))]),
    b.reason,
  ]);
  const header = ['HOST', 'KIND', 'KEY', 'ACTION', 'LOCAL BYTES', ...(r.dryRun ? [] : ['RESULT']), 'REASON'];
  const freed = r.bytesFreed.map((t) => [
    t.target,
    t.blobs === null ? '-' : String(t.blobs),
    String(t.bytes),
  ]);
  const lines = [
    head,
    table(header, rows),
    '',
    'bytes freed per target',
    table(['TARGET', 'BLOBS', 'BYTES'], freed),
    '(local directories go at once; blobs on targets are deleted by gc once no backup references them and the grace period has passed)',
  ];
  for (const e of r.errors) lines.push(`error: ${e}`);
  return lines.join('\n');
}

/** One backup's removal in a word or two: ended, or what it still waits for. */
export function outcome(p: RemovalProgress | undefined): string {
  if (!p) return '?';
  if (!p.pending.length) return p.lifecycle;
  return `${p.lifecycle}, waiting for ${p.pending.map((x) => (x.copy === 'local' ? `the agent of ${p.host}` : x.copy)).join(', ')}`;
}

/** `retire` as text. */
export function formatRetire(p: RemovalProgress): string {
  const name = `${p.host}/${p.key}`;
  if (!p.pending.length) return `${p.lifecycle} ${name}`;
  const detail = p.pending.map((x) => `${x.copy}${x.error ? ` (${x.error})` : ''}`).join(', ');
  return `${p.lifecycle} ${name}: still to remove: ${detail}`;
}

/** `gc` as text: per target, what was looked at, kept, waiting and deleted. */
export function formatGc(r: GcReport): string {
  const source = r.scan
    ? 'candidates from listing each target'
    : "candidates from Postgres' record of each target";
  const head = `gc at ${r.at}${r.dryRun ? ' (dry run)' : ''}, grace ${r.graceHours} h, ${source}`;
  const rows = r.targets.map((t) => [
    t.target,
    String(t.examined),
    String(t.referenced),
    String(t.waiting),
    String(t.deleted),
    String(t.bytes),
    String(t.manifests),
    String(t.foreignManifests),
  ]);
  const header = [
    'TARGET',
    'EXAMINED',
    'REFERENCED',
    'WAITING',
    r.dryRun ? 'WOULD DELETE' : 'DELETED',
    'BYTES',
    'MANIFESTS',
    'OUTSIDE POSTGRES',
  ];
  const lines = [head, rows.length ? table(header, rows) : 'no targets configured'];
  for (const t of r.targets) for (const e of t.errors) lines.push(`error on ${t.target}: ${e}`);
  return lines.join('\n');
}
