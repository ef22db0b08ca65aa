import { hostHealth, nextDailyRun } from '@fleet-backup/core';
import type { HostWithDailies } from '@fleet-backup/db';
import { hostDailySchedule } from './daily-schedulers.ts';
import { wantsDaily } from './host-schedulers.ts';
import type { Runtime } from './runtime.ts';

/** The JSON shape of one host, shared by `hosts --json`, `GET /v1/hosts` and the report. */
export interface HostView {
  host: string;
  labels: Record<string, string>;
  timeZone: string;
  sources: string[];
  firstSeen: string;
  lastSeen: string | null;
  /** down: no heartbeat for a few minutes; never: no agent has run for it. */
  agent: 'up' | 'down' | 'never';
  inConfig: boolean;
  deregistered: string | null;
  /** Its daily scheduler: local time after jitter, and the next run. Null without one. */
  schedule: { id: string; at: string; timeZone: string; pattern: string; next: string } | null;
  lastDaily: { id: string; key: string; status: string; created: string } | null;
  lastVerifiedDaily: string | null;
  overdue: boolean;
  reason: string | null;
}

/** Every host with its last daily and whether it is overdue, as of the runtime's clock. */
export async function describeHosts(rt: Runtime): Promise<HostView[]> {
  const now = rt.clock.now();
  return (await rt.hosts.listWithDailies()).map((h) => describeHost(h, rt, now));
}

function describeHost(h: HostWithDailies, rt: Runtime, now: Date): HostView {
  const health = hostHealth(
    {
      firstSeen: h.firstSeen,
      lastSeen: h.lastSeen,
      deregisteredAt: h.deregisteredAt,
      hasSources: h.sources.length > 0,
      lastVerifiedDaily: h.lastVerifiedDaily,
    },
    now,
    rt.config.dailyOverdueHours,
  );
  const schedule = wantsDaily(h) ? scheduleOf(h, rt, now) : null;
  return {
    host: h.id,
    labels: h.labels,
    timeZone: h.timeZone ?? 'UTC',
    sources: h.sources.map((s) => s.path),
    firstSeen: h.firstSeen.toISOString(),
    lastSeen: h.lastSeen?.toISOString() ?? null,
    agent: health.agent,
    inConfig: h.inConfig,
    deregistered: h.deregisteredAt?.toISOString() ?? null,
    schedule,
    lastDaily: h.lastDaily && {
      id: h.lastDaily.id,
      key: h.lastDaily.key,
      status: h.lastDaily.status,
      created: h.lastDaily.createdAt.toISOString(),
    },
    lastVerifiedDaily: h.lastVerifiedDaily?.toISOString() ?? null,
    overdue: health.overdue,
    reason: health.reason,
  };
}

function scheduleOf(h: HostWithDailies, rt: Runtime, now: Date): HostView['schedule'] {
  try {
    const s = hostDailySchedule(h, rt.config);
    const next = nextDailyRun(s, now).toISOString();
    return { id: s.id, at: s.at, timeZone: s.timeZone, pattern: s.pattern, next };
  } catch {
    // A stored setting this version cannot read: shown without a schedule rather than failing the list.
    return null;
  }
}
