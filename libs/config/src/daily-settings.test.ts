import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from './load.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function withFile(doc: unknown): Record<string, string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fb-config-'));
  dirs.push(dir);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(doc));
  return { FLEET_BACKUP_CONFIG: file, FLEET_BACKUP_HOST: 'cfg-test' };
}

describe('daily settings', () => {
  it('default to 02:00, a 60-minute window, 26 h overdue and 30 days retention', () => {
    expect(loadConfig({ FLEET_BACKUP_HOST: 'cfg-test' })).toMatchObject({
      dailyAt: '02:00',
      dailyJitterMinutes: 60,
      dailyOverdueHours: 26,
      dailyRetentionDays: 30,
    });
  });

  it('come from the config file, per host too, and the environment wins', () => {
    const env = withFile({
      dailyAt: '01:30',
      dailyJitterMinutes: 10,
      hosts: { 'db-1': { timeZone: 'Asia/Tokyo', dailyAt: '04:00', dailyJitterMinutes: 0 } },
    });
    const fromFile = loadConfig(env);
    expect(fromFile).toMatchObject({ dailyAt: '01:30', dailyJitterMinutes: 10 });
    expect(fromFile.hosts['db-1']).toMatchObject({
      timeZone: 'Asia/Tokyo',
      dailyAt: '04:00',
      dailyJitterMinutes: 0,
    });
    expect(
      loadConfig({
        ...env,
        DAILY_AT: '03:15',
        DAILY_JITTER_MINUTES: '0',
        DAILY_OVERDUE_HOURS: '50',
        DAILY_RETENTION_DAYS: '7',
      }),
    ).toMatchObject({
      dailyAt: '03:15',
      dailyJitterMinutes: 0,
      dailyOverdueHours: 50,
      dailyRetentionDays: 7,
    });
  });

  it('refuse a bad time, window or zone with the reason', () => {
    expect(() => loadConfig({ FLEET_BACKUP_HOST: 'x', DAILY_AT: '2:00' })).toThrow(
      /dailyAt: a time of day is HH:MM/,
    );
    expect(() => loadConfig({ FLEET_BACKUP_HOST: 'x', DAILY_JITTER_MINUTES: '2000' })).toThrow(
      /dailyJitterMinutes/,
    );
    expect(() => loadConfig(withFile({ hosts: { h: { timeZone: 'Moon/Base' } } }))).toThrow(/IANA time zone/);
  });
});
