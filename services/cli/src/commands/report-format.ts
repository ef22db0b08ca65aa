import { LOCAL_COPY } from '@fleet-backup/core';
import type { Report } from '@fleet-backup/runtime';
import { statusCell } from '../style.ts';
import { table } from '../table.ts';

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
      ['HOST', 'BACKUPS', 'LOCAL BYTES', 'ON DISK', 'UNIQUE BYTES'],
      s.hosts.map((h) => [
        h.host,
        String(h.backups),
        String(h.localBytes),
        String(h.diskBytes),
        String(h.uniqueBytes),
      ]),
    ),
    section(
      'storage per target (recorded; measured where listing is cheap)',
      ['TARGET', 'KIND', 'BLOBS', 'BYTES', 'MEASURED', 'AGENTS WRITE WITH', 'ENCRYPTION'],
      s.targets.map((t) => [
        t.target,
        t.kind,
        String(t.blobs),
        String(t.bytes),
        t.measuredBytes === null ? '-' : String(t.measuredBytes),
        t.agents === 'pool credential'
          ? "the pool's credential (can delete: give agents their own)"
          : t.agents,
      ]),
    ),
    `total: ${s.total.bytes} bytes stored (local copies ${s.total.diskBytes} on disk for ${s.total.localBytes} of files, targets ${s.total.targetBytes})`,
    section(
      'backups needing verification',
      ['HOST', 'KIND', 'KEY', 'STATUS', 'VERIFIED', 'WHY'],
      r.needsVerification.map((b) => [b.host, b.kind, b.key, statusCell(b.status), b.verified ?? '', b.why]),
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
      `hosts with no successful restore drill in ${r.noRecentDrill.days} days (fleet-backup drill --host H)`,
      ['HOST', 'LAST PASSED', 'LAST DRILL', 'REASON'],
      r.noRecentDrill.hosts.map((h) => [h.host, h.lastPassed ?? 'never', h.lastDrill ?? 'never', h.reason]),
    ),
    section(
      'backups that are not 3-2-1',
      ['HOST', 'KIND', 'KEY', 'STATUS', 'WHY'],
      r.not321.map((b) => [b.host, b.kind, b.key, statusCell(b.status), b.compliance]),
    ),
    section(
      'incomplete backups (required files missing)',
      ['HOST', 'KIND', 'KEY', 'STATUS', 'MISSING'],
      r.incomplete.map((b) => [b.host, b.kind, b.key, statusCell(b.status), b.missing.join(', ')]),
    ),
    section(
      'sharp drops (files or bytes fell beyond the threshold since the previous backup)',
      ['HOST', 'KEY', 'PREVIOUS', 'FILES', 'BYTES', 'THRESHOLD'],
      r.sharpDrops.map(({ host, key, drop }) => [
        host,
        key,
        drop.previous.key,
        `${drop.files.before} -> ${drop.files.after} (-${drop.files.percent}%)`,
        `${drop.bytes.before} -> ${drop.bytes.after} (-${drop.bytes.percent}%)`,
        `${drop.threshold}%`,
      ]),
    ),
    section(
      'mass changes (most files of the previous backup changed or gone: ransomware encrypting a host looks like this)',
      ['HOST', 'KEY', 'PREVIOUS', 'CHANGED OR GONE', 'THRESHOLD'],
      r.massChanges.map(({ host, key, change }) => [
        host,
        key,
        change.previous.key,
        `${change.changed} of ${change.before} (${change.percent}%)`,
        `${change.threshold}%`,
      ]),
    ),
    section(
      `sensitive items skipped (no encryption key)${r.sensitiveSkipped.total > r.sensitiveSkipped.items.length ? `, newest ${r.sensitiveSkipped.items.length} of ${r.sensitiveSkipped.total}` : ''}: NOT backed up at all; set ENCRYPTION_KEY on their agents`,
      ['HOST', 'KIND', 'KEY', 'PATH'],
      r.sensitiveSkipped.items.map((b) => [b.host, b.kind, b.key, b.path]),
    ),
    section(
      `copies read back within the last ${r.recheck.windowDays} days (rolling re-check)`,
      ['COPY', 'BYTES', 'READ BACK', 'FRACTION', 'READ PER DAY (7-DAY AVERAGE)'],
      r.recheck.copies.map((c) => [
        c.copy,
        String(c.bytes),
        String(c.checkedBytes),
        `${(c.fraction * 100).toFixed(1)}%`,
        c.copy === LOCAL_COPY ? '' : String(c.readPerDay),
      ]),
    ),
    section(
      `rot found within the last ${r.rot.windowDays} days (fleet-backup verify; a corrupt copy is healed from a good one)`,
      ['FOUND', 'COPY', 'HOST', 'OBJECT', 'BY', 'HEALED', 'FROM', 'PROBLEM'],
      r.rot.recent.map((f) => [
        f.foundAt,
        f.copy,
        f.host,
        f.object,
        f.foundBy,
        f.healedAt ?? 'no',
        f.healedFrom ?? '',
        f.problem,
      ]),
    ),
    section(
      'expiring or retiring, not finished',
      ['HOST', 'KEY', 'STATE', 'SINCE', 'STILL TO REMOVE'],
      r.ending.map((b) => [b.host, b.key, b.lifecycle, b.since ?? '', b.pending.join(', ')]),
    ),
  ].join('\n\n');
}
