import { createHash } from 'node:crypto';
import { nextLocalTime } from './zoned-time.ts';

/** `HH:MM`, 24-hour. */
export const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Scheduler ids are `daily.<host>`: deterministic, so producers restarting or running twice upsert one. */
export const DAILY_SCHEDULER_PREFIX = 'daily.';

export function dailySchedulerId(host: string): string {
  return `${DAILY_SCHEDULER_PREFIX}${host}`;
}

export interface DailyPolicy {
  /** Local `HH:MM` the window starts at (default 02:00). */
  at: string;
  /** Width of the jitter window in minutes; 0 runs every host at exactly `at`. */
  jitterMinutes: number;
  /** IANA zone of the host. */
  timeZone: string;
}

export interface DailySchedule {
  id: string;
  /** Local `HH:MM` after jitter. */
  at: string;
  hour: number;
  minute: number;
  timeZone: string;
  /** Five-field cron pattern, evaluated by BullMQ in timeZone. */
  pattern: string;
}

/**
 * Minutes (0 ≤ n < window) a host's daily is shifted by. Derived from the host id alone, so
 * every producer computes the same schedule, and a fleet's dailies spread over the window
 * instead of all hitting the targets at 02:00.
 */
export function jitterMinutes(host: string, window: number): number {
  if (window <= 0) return 0;
  return createHash('sha256').update(host).digest().readUInt32BE(0) % window;
}

/** The host's daily: `at` plus its jitter, wrapping past midnight, in its time zone. */
export function dailySchedule(host: string, policy: DailyPolicy): DailySchedule {
  const match = TIME_OF_DAY.exec(policy.at);
  if (!match) throw new RangeError(`daily time must be HH:MM, got ${JSON.stringify(policy.at)}`);
  const start = Number(match[1]) * 60 + Number(match[2]);
  const total = (start + jitterMinutes(host, policy.jitterMinutes)) % (24 * 60);
  const hour = Math.floor(total / 60);
  const minute = total % 60;
  return {
    id: dailySchedulerId(host),
    at: `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`,
    hour,
    minute,
    timeZone: policy.timeZone,
    pattern: `${minute} ${hour} * * *`,
  };
}

/** When the schedule fires next after an instant. */
export function nextDailyRun(schedule: DailySchedule, after: Date): Date {
  return new Date(nextLocalTime(schedule.hour, schedule.minute, schedule.timeZone, after.getTime()));
}
