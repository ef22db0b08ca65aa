import { jitterMinutes } from '@fleet-backup/core';

/** Scheduler ids are `drill.<host>`: deterministic, so producers restarting or running twice upsert one. */
export const DRILL_SCHEDULER_PREFIX = 'drill.';

export function drillSchedulerId(host: string): string {
  return `${DRILL_SCHEDULER_PREFIX}${host}`;
}

export interface DrillPolicy {
  /** Five-field cron pattern (`drillCron`). */
  cron: string;
  /** The host's jitter window in minutes (its daily window). */
  jitterMinutes: number;
  /** IANA zone the pattern is evaluated in: the host's. */
  timeZone: string;
}

export interface DrillSchedule {
  id: string;
  pattern: string;
  timeZone: string;
}

const MINUTES_PER_DAY = 24 * 60;

/**
 * A host's drill schedule: `cron` with the host's stable jitter added to its time, so a fleet's
 * drills do not all restore at the same minute. Jitter applies only when minute and hour are
 * plain numbers, and never carries past midnight, so the day fields keep their meaning
 * ("Sunday" stays Sunday). Any other pattern is used as written.
 */
export function drillSchedule(host: string, policy: DrillPolicy): DrillSchedule {
  return jitteredSchedule(drillSchedulerId(host), host, policy);
}

/** The same shift for any per-host scheduler (the local copies' rolling re-read uses it too). */
export function jitteredSchedule(id: string, host: string, policy: DrillPolicy): DrillSchedule {
  const fields = policy.cron.trim().split(/\s+/);
  const [minute, hour, ...days] = fields;
  const base = { id, timeZone: policy.timeZone };
  if (fields.length !== 5 || !/^\d+$/.test(minute ?? '') || !/^\d+$/.test(hour ?? '')) {
    return { ...base, pattern: fields.join(' ') };
  }
  const start = Number(hour) * 60 + Number(minute);
  const room = Math.max(0, MINUTES_PER_DAY - start);
  const total = start + jitterMinutes(host, Math.min(policy.jitterMinutes, room));
  return { ...base, pattern: [total % 60, Math.floor(total / 60), ...days].join(' ') };
}
