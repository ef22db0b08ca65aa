import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FoundFile, GENERATED } from '@fleet-backup/capture';
import { type HostConfig, hostSchema } from '@fleet-backup/config';
import { DEFAULT_SECRET_PATTERNS, Keyring, NO_KEYS, PermanentFailure } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEnv } from '../agent-env.ts';
import { currentOwner, startTimeOf } from './staging.ts';
import { captureSystemState, capturesSystemState, STAGING_DIR, sweepStaging } from './system-state.ts';

const host = (config: unknown): HostConfig => hostSchema.parse(config);

function stagedAt(f: FoundFile): string {
  if (f.from.kind !== 'staged') throw new Error(`${f.path} is not a staged item`);
  return f.from.path;
}

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
    const stale = path.join(backupRoot, STAGING_DIR, '20250101');
    await mkdir(stale, { recursive: true });
    await writeFile(path.join(stale, 'environment.config'), 'stale');

    const captured = await captureSystemState(agent(config), backup([source]), [], ctx);
    expect(captured.files.map(({ path: p, config: c, sensitive }) => ({ p, c, sensitive }))).toEqual([
      { p: GENERATED.environment, c: true, sensitive: undefined },
      { p: GENERATED.environmentSecrets, c: true, sensitive: true },
      { p: GENERATED.dependencies, c: true, sensitive: undefined },
    ]);
    const staging = path.dirname(stagedAt(captured.files[0]!));
    expect(await readdir(path.join(backupRoot, STAGING_DIR))).toEqual([path.basename(staging)]);
    // This capture's own directory, named for its owner (the agent's boot, pid and start time).
    expect(path.basename(staging)).toMatch(
      new RegExp(`^20250101@[0-9a-f-]{36}\\.${process.pid}\\.\\d+\\.[0-9a-f]+$`),
    );
    for (const f of captured.files) expect(path.dirname(stagedAt(f))).toBe(staging);
    const plain = await readFile(stagedAt(captured.files[0]!), 'utf8');
    expect(plain).toContain('FBTEST_MODE=on\n');
    expect(plain).not.toContain('never-in-the-clear');
    expect((await stat(staging)).mode & 0o777).toBe(0o700);
    expect((await stat(stagedAt(captured.files[1]!))).mode & 0o777).toBe(0o600);

    await captured.remove();
    expect(await readdir(path.join(backupRoot, STAGING_DIR))).toEqual([]);
  });

  it('without an encryption key, hands over the secret item without ever writing its values', async () => {
    const config = host({ sources: [{ path: source }], environment: { allow: ['FBTEST_*'] } });
    const captured = await captureSystemState(agent(config, NO_KEYS), backup([source]), [], ctx);
    const secret = captured.files.find((f) => f.path === GENERATED.environmentSecrets);
    expect(secret?.sensitive).toBe(true);
    expect(await readdir(path.dirname(stagedAt(secret!)))).toEqual(['environment.config']);
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
    const found: FoundFile[] = [
      {
        path: '/environment.config',
        pathBytes: null,
        from: { kind: 'staged', path: '/environment.config' },
        size: 0,
        config: true,
      },
    ];
    const err = await captureSystemState(agent(config), backup(['/']), found, ctx).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentFailure);
    expect(err.message).toMatch(/\/environment\.config on host h1 would be stored where the generated/);
  });
});

describe('sweepStaging', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fb-sweep-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));
  const stageAs = async (name: string) => {
    await mkdir(path.join(root, STAGING_DIR, name), { recursive: true });
    await writeFile(path.join(root, STAGING_DIR, name, 'environment.secrets.config'), 'X=1');
  };

  it("removes a killed run's leftovers (older unnamed layout too) and leaves the backups beside them", async () => {
    await stageAs('20261126');
    await mkdir(path.join(root, '20261125'));
    expect(await sweepStaging(root)).toEqual(['20261126']);
    expect(await readdir(root)).toEqual([STAGING_DIR, '20261125']);
    expect(await readdir(path.join(root, STAGING_DIR))).toEqual([]);
    expect(await sweepStaging(root)).toEqual([]); // nothing left to remove: still fine
  });

  it('leaves what a live process owns, and sweeps a dead owner, an earlier boot, and a reused pid', async () => {
    const me = await currentOwner();
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    const dead = spawn('true', [], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => dead.on('exit', resolve));
      const otherStart = await waitForStart(other.pid!);
      const live = [
        `20261126@${me.bootId}.${me.pid}.${me.start}.aa`,
        `20261126@${me.bootId}.${other.pid}.${otherStart}.bb`,
      ];
      const gone = [
        `20261126@${me.bootId}.${dead.pid}.${me.start}.cc`,
        `20261126@00000000-0000-4000-8000-000000000000.${me.pid}.${me.start}.dd`,
        `20261126@${me.bootId}.${me.pid}.${Number(me.start) + 1}.ee`,
      ];
      for (const name of [...live, ...gone]) await stageAs(name);
      expect((await sweepStaging(root)).sort()).toEqual(gone.sort());
      expect((await readdir(path.join(root, STAGING_DIR))).sort()).toEqual(live.sort());
    } finally {
      other.kill('SIGKILL');
    }
  });
});

async function waitForStart(pid: number): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const start = await startTimeOf(pid);
    if (start) return start;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`process ${pid} never showed in /proc`);
}
