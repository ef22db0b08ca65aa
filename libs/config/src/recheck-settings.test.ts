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
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fb-recheck-config-'));
  dirs.push(dir);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(doc));
  return { FLEET_BACKUP_CONFIG: file, FLEET_BACKUP_HOST: 'cfg-test' };
}

describe('re-check settings', () => {
  it('default to a 30-day window, read daily at 05:00', () => {
    expect(loadConfig({ FLEET_BACKUP_HOST: 'cfg-test' })).toMatchObject({
      recheckWindowDays: 30,
      recheckCron: '0 5 * * *',
    });
  });

  it('come from the config file, and the environment wins', () => {
    const env = withFile({ recheckWindowDays: 7, recheckCron: '30 2 * * *' });
    expect(loadConfig(env)).toMatchObject({ recheckWindowDays: 7, recheckCron: '30 2 * * *' });
    expect(loadConfig({ ...env, RECHECK_WINDOW_DAYS: '1', RECHECK_CRON: '0 6 * * *' })).toMatchObject({
      recheckWindowDays: 1,
      recheckCron: '0 6 * * *',
    });
  });

  it('refuse a window of 0 days and a schedule that is not five fields', () => {
    expect(() => loadConfig({ FLEET_BACKUP_HOST: 'x', RECHECK_WINDOW_DAYS: '0' })).toThrow(
      /re-check settings: recheckWindowDays/,
    );
    expect(() => loadConfig({ FLEET_BACKUP_HOST: 'x', RECHECK_CRON: 'daily' })).toThrow(
      /re-check settings: recheckCron: a schedule is a five-field cron pattern/,
    );
  });
});
