import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '@fleet-backup/config';
import { ManualClock } from '@fleet-backup/core';
import type { FileRow } from '@fleet-backup/db';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.ts';

const run = promisify(execFile);
const services = await serviceUrls();
const BIN = path.join(repoRoot, 'services/launcher/bin/fleet-backup.js');
const FILES = 30_000;
const ATTRS = {
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  owner: 'app',
  group: 'app',
  mtimeNs: '1780000000000000000',
};

/**
 * Runs `fleet-backup ARGS | cat > OUT` through a real shell pipe (stdout a pipe, writes
 * asynchronous: GUIDE §4), slowed by `sleep` on the reading side so the pipe fills up, and
 * returns the CLI's own exit code (pipefail) and what reached the file.
 */
async function piped(
  args: string[],
  out: string,
  env: Record<string, string>,
): Promise<{ code: number; bytes: Buffer; stderr: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const script = `set -o pipefail; ${quoted} | { sleep 0.5; cat > '${out}'; }`;
  const result = await run('bash', ['-c', script], {
    env: { ...process.env, ...env },
    maxBuffer: 1 << 20,
  }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
  return { ...result, bytes: await readFile(out) };
}

describe.skipIf(!services)('output is never cut when stdout is a pipe (issue 10)', () => {
  let iso: Isolated;
  let rt: Runtime;
  let env: Record<string, string>;
  let bigId = '';

  /** A backup row with `count` catalog rows, inserted directly (this test is about output, not the pipeline). */
  async function backupWithFiles(host: string, description: string, count: number): Promise<string> {
    await rt.hosts.touch(host);
    const { backup } = await rt.backups.create({
      request: { host, kind: 'manual', paths: ['/srv/data'], purpose: 'pipe test', description },
      targets: [],
      dailyRetentionDays: 30,
    });
    const files: Omit<FileRow, 'hashedAt'>[] = Array.from({ length: count }, (_, i) => {
      const p = `srv/data/dir-${String(i % 97).padStart(3, '0')}/file-${String(i).padStart(6, '0')}.txt`;
      return {
        path: p,
        storedPath: `${p}.bak`,
        cls: 'general',
        size: 1000 + i,
        sha256: `${i.toString(16).padStart(8, '0')}ab`.repeat(7).slice(0, 64),
        hasWal: null,
        attrs: ATTRS,
      };
    });
    await rt.backups.transaction(async (tx) => {
      await rt.backups.saveSnapshot(tx, backup.id, files, []);
      await rt.backups.refresh(backup.id, tx);
    });
    return backup.id;
  }

  beforeAll(async () => {
    iso = await isolate(services!, 'pipe-output');
    env = {
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      LOG_LEVEL: 'warn',
    };
    rt = await openRuntime(
      { ...loadConfig(env), targets: [] },
      { name: 'pipe-output', clock: new ManualClock('2026-06-01T09:30:00Z') },
    );
    bigId = await backupWithFiles('pipe-01', 'many files', FILES);
    await backupWithFiles('pipe-02', 'some files', 5_000);
  }, 120_000);
  afterAll(async () => {
    await rt?.close();
    await iso?.cleanup();
  });

  it('show --json: a 5 MB document reaches the end of the pipe whole, byte-equal to --out, exit 0', async () => {
    const out = path.join(iso.dir, 'show-piped.json');
    const file = path.join(iso.dir, 'show-out.json');
    const [pipedRun, written] = await Promise.all([
      piped(['show', bigId, '--json'], out, env),
      runCli(['show', bigId, '--out', file], env),
    ]);
    expect(written.code, written.stderr).toBe(0);
    expect(written.stdout.trim()).toBe(file);
    expect(pipedRun.code, pipedRun.stderr).toBe(0);
    const expected = await readFile(file);
    expect(expected.length).toBeGreaterThan(5_000_000);
    expect(pipedRun.bytes.length).toBe(expected.length);
    expect(pipedRun.bytes.equals(expected)).toBe(true);
    expect(JSON.parse(expected.toString()).files).toHaveLength(FILES);
  });

  it('export-metadata (the fleet, to stdout) reaches the end of the pipe whole, byte-equal to --out', async () => {
    const out = path.join(iso.dir, 'export-piped.json');
    const file = path.join(iso.dir, 'export-out.json');
    const [pipedRun, written] = await Promise.all([
      piped(['export-metadata'], out, env),
      runCli(['export-metadata', '--out', file], env),
    ]);
    expect(written.code, written.stderr).toBe(0);
    expect(pipedRun.code, pipedRun.stderr).toBe(0);
    const expected = await readFile(file);
    expect(expected.length).toBeGreaterThan(1_000_000);
    expect(pipedRun.bytes.equals(expected)).toBe(true);
    expect(Object.keys(JSON.parse(expected.toString()).hosts).sort()).toEqual(['pipe-01', 'pipe-02']);
  });

  it('list --json through a pipe is whole too', async () => {
    const out = path.join(iso.dir, 'list-piped.json');
    const pipedRun = await piped(['list', '--json', '--limit', '10'], out, env);
    expect(pipedRun.code, pipedRun.stderr).toBe(0);
    expect(
      JSON.parse(pipedRun.bytes.toString())
        .map((b: { host: string }) => b.host)
        .sort(),
    ).toEqual(['pipe-01', 'pipe-02']);
  });

  it('keeps a failing command exit code through the pipe, with its message on stderr', async () => {
    const out = path.join(iso.dir, 'missing.json');
    const notFound = await piped(['show', '00000000-0000-4000-8000-000000000000', '--json'], out, env);
    expect(notFound.code).toBe(3);
    expect(notFound.stderr).toMatch(/no backup 00000000-0000-4000-8000-000000000000/);
    expect(notFound.bytes.length).toBe(0);
    // --check on an unverified backup: the whole document, then exit 4.
    const unsafe = await piped(['show', bigId, '--json', '--check'], out, env);
    expect(unsafe.code).toBe(4);
    expect(JSON.parse(unsafe.bytes.toString()).files).toHaveLength(FILES);
    const usage = await piped(['list', '--bogus'], out, env);
    expect(usage.code).toBe(2);
  });

  it('a reader that leaves early (`| head -c 100`) ends the command quietly, without a stack trace', async () => {
    const quoted = [process.execPath, BIN, 'show', bigId, '--json'].map((a) => `'${a}'`).join(' ');
    const result = await run('bash', ['-c', `set -o pipefail; ${quoted} | head -c 100 > /dev/null`], {
      env: { ...process.env, ...env },
    }).then(
      ({ stderr }) => ({ code: 0, stderr }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
  });

  it('writes --out atomically: the file is whole or absent, never half written', async () => {
    const file = path.join(iso.dir, 'nested', 'show.json');
    const res = await runCli(['show', bigId, '--out', file], env);
    expect(res.code, res.stderr).toBe(0);
    expect((await stat(file)).size).toBeGreaterThan(5_000_000);
    const dir = await import('node:fs/promises').then((fs) => fs.readdir(path.dirname(file)));
    expect(dir).toEqual(['show.json']);
  });
});
