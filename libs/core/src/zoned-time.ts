/**
 * Wall-clock times in IANA time zones, with Intl only (no tz library): a host's daily runs at a
 * local time, and `hosts` shows when that is next, the same instant BullMQ's cron parser picks.
 */

const MINUTE = 60_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True for a time zone name this runtime knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

export interface LocalDateTime {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  hour: number;
  minute: number;
}

/** The wall-clock date and time in timeZone at an instant (seconds dropped). */
export function toLocal(at: number, timeZone: string): LocalDateTime {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(at)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year ?? 1970,
    month: parts.month ?? 1,
    day: parts.day ?? 1,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
  };
}

/** How far timeZone's wall clock is ahead of UTC at an instant, in ms (whole minutes). */
export function zoneOffsetMs(at: number, timeZone: string): number {
  const l = toLocal(at, timeZone);
  const asUtc = Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute);
  return asUtc - Math.floor(at / MINUTE) * MINUTE;
}

/**
 * The instant a wall-clock time happens in timeZone. Around a DST change it follows cron's
 * rules: a time skipped by the spring jump runs as many minutes later as the jump (02:30 in a
 * 02:00→03:00 jump is 03:30), and a time that happens twice in autumn takes the first one.
 */
export function localToUtc(local: LocalDateTime, timeZone: string): number {
  const wall = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute);
  // The offsets a day either side bracket any transition near this wall time.
  const before = wall - zoneOffsetMs(wall - DAY, timeZone);
  const after = wall - zoneOffsetMs(wall + DAY, timeZone);
  const valid = [before, after].filter((t) => t + zoneOffsetMs(t, timeZone) === wall);
  if (valid.length) return Math.min(...valid);
  return before;
}

/** The first instant strictly after `after` at which timeZone's clock shows hour:minute. */
export function nextLocalTime(hour: number, minute: number, timeZone: string, after: number): number {
  const today = toLocal(after, timeZone);
  for (let offset = -1; offset <= 2; offset++) {
    // Date.UTC normalises day overflow (31 + 1 → the 1st of the next month).
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + offset));
    const at = localToUtc(
      {
        year: date.getUTCFullYear(),
        month: date.getUTCMonth() + 1,
        day: date.getUTCDate(),
        hour,
        minute,
      },
      timeZone,
    );
    if (at > after) return at;
  }
  throw new Error(`no ${hour}:${minute} in ${timeZone} within two days of ${after}`);
}
