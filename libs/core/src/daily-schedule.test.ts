import { describe, expect, it } from 'vitest';
import { dailySchedule, jitterMinutes, nextDailyRun } from './daily-schedule.ts';

const hosts = Array.from({ length: 500 }, (_, i) => `web-${String(i).padStart(3, '0')}`);

describe('daily schedule', () => {
  it('is 02:00 in the host time zone without jitter', () => {
    const s = dailySchedule('web-01', { at: '02:00', jitterMinutes: 0, timeZone: 'Europe/Berlin' });
    expect(s).toEqual({
      id: 'daily.web-01',
      at: '02:00',
      hour: 2,
      minute: 0,
      timeZone: 'Europe/Berlin',
      pattern: '0 2 * * *',
    });
  });

  it('jitters each host by a stable amount inside the window', () => {
    for (const host of hosts) {
      const j = jitterMinutes(host, 60);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(j).toBeLessThan(60);
      expect(jitterMinutes(host, 60)).toBe(j);
    }
    // Known values pin the hash, so every producer version agrees on a host's minute.
    expect(jitterMinutes('web-01', 60)).toBe(18);
    expect(jitterMinutes('db-1', 60)).toBe(44);
    expect(jitterMinutes('web-01', 0)).toBe(0);
  });

  it('spreads a fleet over the window', () => {
    const minutes = new Set(hosts.map((h) => jitterMinutes(h, 60)));
    expect(minutes.size).toBeGreaterThan(50);
    const perMinute = new Map<number, number>();
    for (const h of hosts)
      perMinute.set(jitterMinutes(h, 60), (perMinute.get(jitterMinutes(h, 60)) ?? 0) + 1);
    expect(Math.max(...perMinute.values())).toBeLessThan(25);
  });

  it('adds the jitter to the configured time, wrapping past midnight', () => {
    const host = hosts.find((h) => jitterMinutes(h, 120) >= 90)!;
    const j = jitterMinutes(host, 120);
    const s = dailySchedule(host, { at: '23:00', jitterMinutes: 120, timeZone: 'UTC' });
    const total = (23 * 60 + j) % 1440;
    expect([s.hour, s.minute]).toEqual([Math.floor(total / 60), total % 60]);
    expect(s.hour).toBe(0);
    expect(s.pattern).toBe(`${s.minute} ${s.hour} * * *`);
  });

  it('rejects a malformed time', () => {
    expect(() => dailySchedule('h', { at: '2am', jitterMinutes: 0, timeZone: 'UTC' })).toThrow(/HH:MM/);
    expect(() => dailySchedule('h', { at: '24:00', jitterMinutes: 0, timeZone: 'UTC' })).toThrow(/HH:MM/);
  });

  it('computes the next run in the host zone', () => {
    const s = dailySchedule('db-1', { at: '02:15', jitterMinutes: 0, timeZone: 'America/Los_Angeles' });
    expect(nextDailyRun(s, new Date('2026-06-01T12:00:00Z')).toISOString()).toBe('2026-06-02T09:15:00.000Z');
    expect(nextDailyRun(s, new Date('2026-12-01T12:00:00Z')).toISOString()).toBe('2026-12-02T10:15:00.000Z');
  });
});
