import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.ts';

const base = { FLEET_BACKUP_HOST: 'cfg-test', DATA_DIR: '/var/lib/fb' };

describe('TARGET_RETRY_SECONDS', () => {
  it('defaults to 30 s, and is read in seconds', () => {
    expect(loadConfig(base).targetRetryDeadlineMs).toBe(30_000);
    expect(loadConfig({ ...base, TARGET_RETRY_SECONDS: '120' }).targetRetryDeadlineMs).toBe(120_000);
  });

  it('refuses what is not a whole number of seconds, naming the variable', () => {
    expect(() => loadConfig({ ...base, TARGET_RETRY_SECONDS: '2m' })).toThrow(/TARGET_RETRY_SECONDS/);
  });
});
