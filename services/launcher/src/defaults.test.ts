import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedSettings } from './defaults.ts';

describe("start's embedded defaults: the demo key", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'embedded-defaults-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const embedded = async (env: Record<string, string>) => {
    const full = { DATA_DIR: path.join(dir, Object.keys(env).join('-') || 'plain'), ...env };
    return embeddedSettings(loadConfig(full), full);
  };

  it('keeps the retired keys beside the demo key, which becomes the current one', async () => {
    const old = `retired:${randomBytes(32).toString('base64')}`;
    const { config, notices } = await embedded({ ENCRYPTION_OLD_KEYS: old });
    expect(config.encryption.currentId).toBe('demo');
    expect(config.encryption.ids.sort()).toEqual(['demo', 'retired']);
    expect(notices.join('\n')).toContain('DEMO key');
  });

  it('makes no demo key when a key is configured', async () => {
    const { config, notices } = await embedded({
      ENCRYPTION_KEY: `mine:${randomBytes(32).toString('base64')}`,
    });
    expect(config.encryption.ids).toEqual(['mine']);
    expect(notices.join('\n')).not.toContain('DEMO key');
  });
});
