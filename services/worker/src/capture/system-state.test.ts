import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type HostConfig, hostSchema } from '@fleet-backup/config';
import { DEFAULT_SECRET_PATTERNS, Keyring, NO_KEYS, PermanentFailure } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEnv } from '../agent-env.ts';
import {
  captureSystemState,
  capturesSystemState,
  GENERATED,
  STAGING_DIR,
  sweepStaging,
} from './system-state.ts';

const host = (config: unknown): HostConfig => hostSchema.parse(config);

describe('capturesSystemState', () => {
  const config = host({
    sources: [{ path: '/srv/app' }, { path: '/etc/app' }],
    environment: { allow: ['APP_*'] },
  });

  it('is true for a backup taking every configured source (a daily), or a path above them', () => {
    expect(capturesSystemState(['/srv/app', '/etc/app'], config)).toBe(true);
    expect(capturesSystemState(['/'], config)).toBe(true);
  });

  it('is false for a backup of some files only, and for a host that configures nothing to capture', () => {
    expect(capturesSystemState(['/srv/app'], config)).toBe(false);
    expect(capturesSystemState(['/srv/app/data.db', '/etc/app'], config)).toBe(false);
    expect(capturesSystemState(['/srv/app', '/etc/app'], host({ sources: config.sources }))).toBe(false);
    expect(capturesSystemState(['/'], host({ environment: { allow: ['APP_*'] } }))).toBe(false);
  });
});

describe('captureSystemState', () => {
  let dir: string;
  let backupRoot: string;
  let source: string;
  const ctx = {
    signal: new AbortController().signal,
    log: { info() {}, warn() {} } as unknown as Parameters<typeof captureSystemState>[3]['log'],
  };
  const backup = (paths: string[]) => ({ key: '20250101', request: { paths } }) as unknown as BackupRow;
  const withKey = new Keyring({ id: 'k1', key: Buffer.alloc(32, 7) });
  const agent = (hostConfig: HostConfig, encryption = withKey): AgentEnv =>
    ({
      host: 'h1',
      hostConfig,
      backupRoot,
      rt: { config: { secretPatterns: [...DEFAULT_SECRET_PATTERNS], encryption } },
    }) as unknown as AgentEnv;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-state-'));
    backupRoot = path.join(dir, 'backup');
    source = path.join(dir, 'srv');
    await mkdir(source, { recursive: true });
    await writeFile(path.join(source, 'package.json'), '{"name":"app"}');
    process.env.FBTEST_MODE = 'on';
    process.env.FBTEST_TOKEN = 'never-in-the-clear';
  });
  afterEach(async () => {
    delete process.env.FBTEST_MODE;
    delete process.env.FBTEST_TOKEN;
    await rm(dir, { recursive: true, force: true });
  });

  it('stages the generated items as top-level config files, the secret one flagged sensitive, and removes them', async () => {
    const config = host({
      sources: [{ path: source }],
      environment: { allow: ['FBTEST_*'] },
      dependencies: { manifests: [path.join(source, 'package.json')] },
    });
    // A killed run's leftovers are cleared first.
    const staging = path.join(backupRoot, STAGING_DIR, '20250101');
    await mkdir(staging, { recursive: true });
    await writeFile(path.join(staging, 'environment.config'), 'stale');

    const captured = await captureSystemState(agent(config), backup([source]), [], ctx);
    expect(captured.files.map(({ path: p, config: c, sensitive }) => ({ p, c, sensitive }))).toEqual([
      { p: GENERATED.environment, c: true, sensitive: undefined },
      { p: GENERATED.environmentSecrets, c: true, sensitive: true },
      { p: GENERATED.dependencies, c: true, sensitive: undefined },
    ]);
    for (const f of captured.files) expect(path.dirname(f.readFrom)).toBe(staging);
    const plain = await readFile(captured.files[0]!.readFrom, 'utf8');
    expect(plain).toContain('FBTEST_MODE=on\n');
    expect(plain).not.toContain('never-in-the-clear');
    expect((await stat(staging)).mode & 0o777).toBe(0o700);
    expect((await stat(captured.files[1]!.readFrom)).mode & 0o777).toBe(0o600);

    await captured.remove();
    expect(await readdir(path.join(backupRoot, STAGING_DIR))).toEqual([]);
  });

  it('without an encryption key, hands over the secret item without ever writing its values', async () => {
    const config = host({ sources: [{ path: source }], environment: { allow: ['FBTEST_*'] } });
    const captured = await captureSystemState(agent(config, NO_KEYS), backup([source]), [], ctx);
    const secret = captured.files.find((f) => f.path === GENERATED.environmentSecrets);
    expect(secret?.sensitive).toBe(true);
    expect(await readdir(path.dirname(secret!.readFrom))).toEqual(['environment.config']);
    await captured.remove();
  });

  it('captures nothing for a backup of chosen files', async () => {
    const config = host({ sources: [{ path: source }], environment: { allow: ['FBTEST_*'] } });
    const captured = await captureSystemState(
      agent(config),
      backup([path.join(source, 'package.json')]),
      [],
      ctx,
    );
    expect(captured.files).toEqual([]);
    await expect(stat(path.join(backupRoot, STAGING_DIR))).rejects.toThrow(/ENOENT/);
  });

  it("refuses a host file that would take a generated item's place", async () => {
    const config = host({ sources: [{ path: '/' }], environment: { allow: ['FBTEST_*'] } });
    const found = [{ path: '/environment.config', readFrom: '/environment.config', config: true }];
    const err = await captureSystemState(agent(config), backup(['/']), found, ctx).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentFailure);
    expect(err.message).toMatch(/\/environment\.config on host h1 would be stored where the generated/);
  });
});

describe('sweepStaging', () => {
  it("removes a killed run's leftovers and leaves the backups beside them", async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'fb-sweep-'));
    try {
      await mkdir(path.join(root, STAGING_DIR, '20261126'), { recursive: true });
      await writeFile(path.join(root, STAGING_DIR, '20261126', 'environment.secrets.config'), 'X=1');
      await mkdir(path.join(root, '20261125'));
      await sweepStaging(root);
      expect(await readdir(root)).toEqual(['20261125']);
      await sweepStaging(root); // nothing left to remove: still fine
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
