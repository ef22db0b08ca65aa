import type { Report } from '@fleet-backup/runtime';
import { table } from './inspect.ts';

/** A titled section: the table, or "(none)". */
function section(title: string, header: string[], rows: string[][]): string {
  return `${title} (${rows.length})\n${rows.length ? table(header, rows) : '(none)'}`;
}

/** `report` as text, one section per question of the seed's Automation and Monitoring parts. */
export function formatReport(r: Report): string {
  const s = r.storage;
  return [
    `report at ${r.at}`,
    section(
      'expiring within the next days',
      ['HOST', 'KIND', 'KEY', 'ACTION', 'DUE'],
      r.expiringSoon.map((b) => [b.host, b.kind, b.key, b.action, b.due]),
    ),
    section(
      'pre-change backups ready for cleanup (change verified; fleet-backup retire KEY)',
      ['HOST', 'KEY', 'TICKET', 'CREATED'],
      r.readyForCleanup.map((b) => [b.host, b.key, b.ticket ?? '', b.created]),
    ),
    section(
      'storage per host (from metadata)',
      ['HOST', 'BACKUPS', 'LOCAL BYTES', 'UNIQUE BYTES'],
      s.hosts.map((h) => [h.host, String(h.backups), String(h.localBytes), String(h.uniqueBytes)]),
    ),
    section(
      'storage per target (recorded; measured where listing is cheap)',
      ['TARGET', 'KIND', 'BLOBS', 'BYTES', 'MEASURED'],
      s.targets.map((t) => [
        t.target,
        t.kind,
        String(t.blobs),
        String(t.bytes),
        t.measuredBytes === null ? '-' : String(t.measuredBytes),
      ]),
    ),
    `total: ${s.total.bytes} bytes (local copies ${s.total.localBytes}, targets ${s.total.targetBytes})`,
    section(
      'backups needing verification',
      ['HOST', 'KIND', 'KEY', 'STATUS', 'VERIFIED', 'WHY'],
      r.needsVerification.map((b) => [b.host, b.kind, b.key, b.status, b.verified ?? '', b.why]),
    ),
    section(
      'pre-change backups waiting for their change to be verified, oldest first',
      ['HOST', 'KEY', 'TICKET', 'CREATED', 'AGE (DAYS)'],
      r.waitingForChange.map((b) => [b.host, b.key, b.ticket ?? '', b.created, String(b.ageDays)]),
    ),
    section(
      'overdue hosts',
      ['HOST', 'LAST VERIFIED DAILY', 'REASON'],
      r.overdueHosts.map((h) => [h.host, h.lastVerifiedDaily ?? '', h.reason ?? '']),
    ),
    section(
      'backups that are not 3-2-1',
      ['HOST', 'KIND', 'KEY', 'STATUS', 'WHY'],
      r.not321.map((b) => [b.host, b.kind, b.key, b.status, b.compliance]),
    ),
    section(
      'expiring or retiring, not finished',
      ['HOST', 'KEY', 'STATE', 'SINCE', 'STILL TO REMOVE'],
      r.ending.map((b) => [b.host, b.key, b.lifecycle, b.since ?? '', b.pending.join(', ')]),
    ),
  ].join('\n\n');
}
