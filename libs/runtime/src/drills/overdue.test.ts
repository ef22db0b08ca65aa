import type { DrillRun, HostDrillSummary } from '@fleet-backup/db';
import { describe, expect, it } from 'vitest';
import { hostsWithoutRecentDrill } from './overdue.ts';

const NOW = new Date('2026-06-15T12:00:00Z');
const daysAgo = (n: number) => new Date(NOW.getTime() - n * 86_400_000);

function summary(host: string, last: Partial<DrillRun>, lastOkAt: Date | null): HostDrillSummary {
  const run: DrillRun = {
    id: '00000000-0000-4000-8000-000000000000',
    host,
    backupId: null,
    backupKey: null,
    target: 's3',
    trigger: 'scheduled',
    startedAt: NOW,
    finishedAt: NOW,
    ok: true,
    reason: null,
    durationMs: 1,
    files: 1,
    bytes: 1,
    ...last,
  };
  return { host, last: run, lastOkAt };
}

describe('hostsWithoutRecentDrill', () => {
  it('lists hosts never drilled, failing since, stale or still running; not those recently passed', () => {
    const out = hostsWithoutRecentDrill(
      ['recent', 'never', 'failing', 'stale', 'running'],
      [
        summary('recent', { startedAt: daysAgo(3), ok: true }, daysAgo(3)),
        summary(
          'failing',
          { startedAt: daysAgo(1), ok: false, reason: 'etc/a from copy s3: sha256 mismatch' },
          daysAgo(20),
        ),
        summary('stale', { startedAt: daysAgo(15), ok: true }, daysAgo(15)),
        summary('running', { startedAt: daysAgo(0), ok: null }, null),
        summary('gone', { startedAt: daysAgo(30), ok: false }, null),
      ],
      NOW,
      14,
    );
    expect(out).toEqual([
      {
        host: 'failing',
        lastPassed: daysAgo(20).toISOString(),
        lastDrill: daysAgo(1).toISOString(),
        reason: 'etc/a from copy s3: sha256 mismatch',
      },
      { host: 'never', lastPassed: null, lastDrill: null, reason: 'never drilled' },
      { host: 'running', lastPassed: null, lastDrill: NOW.toISOString(), reason: 'a drill is running' },
      {
        host: 'stale',
        lastPassed: daysAgo(15).toISOString(),
        lastDrill: daysAgo(15).toISOString(),
        reason: 'the last passing drill is older than 14 days',
      },
    ]);
  });

  it('counts a pass exactly at the limit as recent', () => {
    expect(
      hostsWithoutRecentDrill(['h'], [summary('h', { startedAt: daysAgo(14) }, daysAgo(14))], NOW, 14),
    ).toEqual([]);
  });
});
