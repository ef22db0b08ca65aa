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

describe('completeness settings', () => {
  it('flag a drop beyond 50% by default; the file sets it and DROP_THRESHOLD_PERCENT wins', () => {
    expect(loadConfig({ FLEET_BACKUP_HOST: 'cfg-test' }).dropThresholdPercent).toBe(50);
    const env = withFile({ dropThresholdPercent: 30 });
    expect(loadConfig(env).dropThresholdPercent).toBe(30);
    expect(loadConfig({ ...env, DROP_THRESHOLD_PERCENT: '70' }).dropThresholdPercent).toBe(70);
    expect(() => loadConfig({ ...env, DROP_THRESHOLD_PERCENT: '150' })).toThrow(/0 to 100/);
    expect(() => loadConfig(withFile({ dropThresholdPercent: -1 }))).toThrow(/dropThresholdPercent/);
  });

  it('take required globs per source, refusing ones that climb out of it', () => {
    const sources = [{ path: '/srv/app', required: ['app.db', 'config/app.yaml'] }];
    expect(loadConfig(withFile({ hosts: { web: { sources } } })).hosts.web?.sources[0]?.required).toEqual([
      'app.db',
      'config/app.yaml',
    ]);
    const climbing = [{ path: '/srv/app', required: ['../etc/passwd'] }];
    expect(() => loadConfig(withFile({ hosts: { web: { sources: climbing } } }))).toThrow(/may not contain/);
  });
});
