import { describe, expect, it } from 'vitest';
import { isTimeZone, localToUtc, nextLocalTime, toLocal, zoneOffsetMs } from './zoned-time.ts';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('zoned time', () => {
  it('knows IANA zones and rejects made-up ones', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus_Mons')).toBe(false);
  });

  it('reads wall-clock time and offsets, including half-hour zones', () => {
    expect(toLocal(at('2026-01-15T20:00:00Z'), 'Asia/Tokyo')).toEqual({
      year: 2026,
      month: 1,
      day: 16,
      hour: 5,
      minute: 0,
    });
    expect(zoneOffsetMs(at('2026-01-15T00:00:00Z'), 'America/New_York')).toBe(-5 * 3_600_000);
    expect(zoneOffsetMs(at('2026-07-15T00:00:00Z'), 'America/New_York')).toBe(-4 * 3_600_000);
    expect(zoneOffsetMs(at('2026-07-15T00:00:00Z'), 'Asia/Kolkata')).toBe(5.5 * 3_600_000);
  });

  it('turns local times into instants in winter and summer', () => {
    const local = { year: 2026, month: 1, day: 10, hour: 2, minute: 17 };
    expect(iso(localToUtc(local, 'America/New_York'))).toBe('2026-01-10T07:17:00.000Z');
    expect(iso(localToUtc({ ...local, month: 7 }, 'America/New_York'))).toBe('2026-07-10T06:17:00.000Z');
    expect(iso(localToUtc(local, 'Australia/Adelaide'))).toBe('2026-01-09T15:47:00.000Z');
  });

  it('follows cron across DST: a skipped time runs after the jump, a doubled one runs once', () => {
    // The same instants cron-parser (BullMQ's) gives for `30 2 * * *` and `30 1 * * *` in New York.
    const spring = { year: 2026, month: 3, day: 8, hour: 2, minute: 30 };
    expect(iso(localToUtc(spring, 'America/New_York'))).toBe('2026-03-08T07:30:00.000Z');
    const autumn = { year: 2026, month: 11, day: 1, hour: 1, minute: 30 };
    expect(iso(localToUtc(autumn, 'America/New_York'))).toBe('2026-11-01T05:30:00.000Z');
  });

  it('finds the next occurrence strictly after an instant, across day and month ends', () => {
    expect(iso(nextLocalTime(2, 0, 'UTC', at('2026-01-31T01:59:00Z')))).toBe('2026-01-31T02:00:00.000Z');
    expect(iso(nextLocalTime(2, 0, 'UTC', at('2026-01-31T02:00:00Z')))).toBe('2026-02-01T02:00:00.000Z');
    // 02:00 in Tokyo is 17:00 UTC the day before.
    expect(iso(nextLocalTime(2, 0, 'Asia/Tokyo', at('2026-12-31T18:00:00Z')))).toBe(
      '2027-01-01T17:00:00.000Z',
    );
    expect(iso(nextLocalTime(2, 30, 'America/New_York', at('2026-03-07T12:00:00Z')))).toBe(
      '2026-03-08T07:30:00.000Z',
    );
  });
});
