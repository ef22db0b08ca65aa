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
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fb-drill-config-'));
  dirs.push(dir);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(doc));
  return { FLEET_BACKUP_CONFIG: file, FLEET_BACKUP_HOST: 'cfg-test', DATA_DIR: dir };
}

describe('drill settings', () => {
  it('default to Sundays 04:00, 14 days, any verified offsite copy, scratch under DATA_DIR', () => {
    expect(loadConfig({ FLEET_BACKUP_HOST: 'cfg-test', DATA_DIR: '/var/lib/fb' })).toMatchObject({
      drillCron: '0 4 * * 0',
      drillMaxAgeDays: 14,
      drillFrom: null,
      drillScratchDir: '/var/lib/fb/drills',
    });
  });

  it('come from the config file, and the environment wins', () => {
    const env = withFile({ drillCron: '30 1 * * 3', drillMaxAgeDays: 7, drillFrom: 'offsite-s3' });
    expect(loadConfig(env)).toMatchObject({
      drillCron: '30 1 * * 3',
      drillMaxAgeDays: 7,
      drillFrom: 'offsite-s3',
    });
    expect(
      loadConfig({
        ...env,
        DRILL_CRON: '0 5 * * 6',
        DRILL_MAX_AGE_DAYS: '21',
        DRILL_SCRATCH_DIR: '/scratch',
      }),
    ).toMatchObject({ drillCron: '0 5 * * 6', drillMaxAgeDays: 21, drillScratchDir: '/scratch' });
  });

  it('refuse a schedule that is not five fields, and an age of 0 days', () => {
    expect(() => loadConfig({ FLEET_BACKUP_HOST: 'x', DRILL_CRON: 'weekly' })).toThrow(
      /drill settings: drillCron: a schedule is a five-field cron pattern/,
    );
    expect(() => loadConfig({ FLEET_BACKUP_HOST: 'x', DRILL_MAX_AGE_DAYS: '0' })).toThrow(/drillMaxAgeDays/);
  });
});
