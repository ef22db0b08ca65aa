import { describe, expect, it } from 'vitest';
import { drillSchedule } from './schedule.ts';

describe('drillSchedule', () => {
  it('shifts a plain weekly time by the host jitter and keeps the day fields', () => {
    const s = drillSchedule('web-01', { cron: '0 4 * * 0', jitterMinutes: 60, timeZone: 'Europe/Berlin' });
    expect(s.id).toBe('drill.web-01');
    expect(s.timeZone).toBe('Europe/Berlin');
    const [minute, hour, ...days] = s.pattern.split(' ');
    expect(days).toEqual(['*', '*', '0']);
    expect(Number(hour)).toBe(4);
    expect(Number(minute)).toBeGreaterThanOrEqual(0);
    expect(Number(minute)).toBeLessThan(60);
  });

  it('is the same for a host every time and differs across a fleet', () => {
    const policy = { cron: '0 4 * * 0', jitterMinutes: 120, timeZone: 'UTC' };
    expect(drillSchedule('db-7', policy)).toEqual(drillSchedule('db-7', policy));
    const patterns = new Set(Array.from({ length: 40 }, (_, i) => drillSchedule(`h-${i}`, policy).pattern));
    expect(patterns.size).toBeGreaterThan(10);
  });

  it('never carries the jitter past midnight, which would move the drill to another day', () => {
    for (let i = 0; i < 50; i++) {
      const s = drillSchedule(`late-${i}`, { cron: '50 23 * * 6', jitterMinutes: 600, timeZone: 'UTC' });
      const [minute, hour, , , dow] = s.pattern.split(' ');
      expect(Number(hour)).toBe(23);
      expect(Number(minute)).toBeGreaterThanOrEqual(50);
      expect(dow).toBe('6');
    }
  });

  it('uses a pattern with ranges or steps as written, and no jitter window as written', () => {
    expect(drillSchedule('h', { cron: '*/30 1-3 * * 1', jitterMinutes: 60, timeZone: 'UTC' }).pattern).toBe(
      '*/30 1-3 * * 1',
    );
    expect(drillSchedule('h', { cron: '15 4 * * 0', jitterMinutes: 0, timeZone: 'UTC' }).pattern).toBe(
      '15 4 * * 0',
    );
  });
});
