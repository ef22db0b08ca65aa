import type { HostDrillSummary } from '@fleet-backup/db';

const DAY_MS = 86_400_000;

/** A host whose backups have not been proven to restore lately. */
export interface DrillOverdueHost {
  host: string;
  /** When its newest passing drill started; null: it never passed one. */
  lastPassed: string | null;
  /** Its newest drill, passing or not; null: it never had one. */
  lastDrill: string | null;
  /** Why the newest drill failed (or that it is still running, or that there was none). */
  reason: string;
}

/**
 * The hosts (of those given) with no passing drill that started within `maxAgeDays` of `now`,
 * including hosts that never had a drill, by host id.
 */
export function hostsWithoutRecentDrill(
  hosts: string[],
  summaries: HostDrillSummary[],
  now: Date,
  maxAgeDays: number,
): DrillOverdueHost[] {
  const since = now.getTime() - maxAgeDays * DAY_MS;
  const byHost = new Map(summaries.map((s) => [s.host, s]));
  const out: DrillOverdueHost[] = [];
  for (const host of [...hosts].sort()) {
    const s = byHost.get(host);
    if (s?.lastOkAt && s.lastOkAt.getTime() >= since) continue;
    out.push({
      host,
      lastPassed: s?.lastOkAt?.toISOString() ?? null,
      lastDrill: s?.last?.startedAt.toISOString() ?? null,
      reason: lastReason(s, maxAgeDays),
    });
  }
  return out;
}

function lastReason(s: HostDrillSummary | undefined, maxAgeDays: number): string {
  if (!s?.last) return 'never drilled';
  if (s.last.ok === null) return 'a drill is running';
  if (!s.last.ok) return s.last.reason ?? 'failed';
  return `the last passing drill is older than ${maxAgeDays} days`;
}
