// Smoke test of `npm run bench:compare`: the script runs end to end on tiny sizes (fleet-backup
// and cp only) and reports every target in its JSON. Speed is never asserted here: the figures
// are what the benchmark is for, and a FAIL in them is a finding, not a broken script.
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPool } from '@fleet-backup/db';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/cli.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./compare.ts', import.meta.url));
const services = await serviceUrls();

interface Check {
  label: string;
  value: number | null;
  baseline: number | null;
  ratio: number | null;
  pass: boolean | null;
}

describe.skipIf(!services)('bench:compare --quick (fleet-backup and cp, tiny sizes)', () => {
  let dir = '';
  const pool = createPool(services?.databaseUrl ?? '');
  afterAll(async () => {
    await pool.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints every figure beside its baseline and writes the targets P1–P6 as JSON', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-bench-compare-'));
    const json = path.join(dir, 'out', 'compare.json');
    const args = ['--quick', '--only', 'fleet,cp', '--mib', '1', '--files', '30', '--series-files', '20'];
    const { stdout } = await run(process.execPath, [SCRIPT, ...args, '--days', '3', '--json', json], {
      env: { ...process.env, REDIS_URL: services!.redisUrl, DATABASE_URL: services!.databaseUrl },
      maxBuffer: 16 << 20,
    });
    const doc = JSON.parse(await readFile(json, 'utf8'));

    expect(doc.errors).toEqual([]);
    expect(doc.targets.map((t: { id: string }) => t.id)).toEqual(['P1', 'P2', 'P3', 'P4', 'P5', 'P6']);
    const checks = Object.fromEntries(
      doc.targets.flatMap((t: { id: string; checks: Check[] }) =>
        t.checks.map((c) => [`${t.id} ${c.label}`, c]),
      ),
    ) as Record<string, Check>;
    // Against cp, which ran: our figure, cp's, their ratio, and a verdict.
    for (const key of ['P1 vs cp -r + sync', 'P2 vs cp -r + sync']) {
      const c = checks[key]!;
      expect(c.value).toBeGreaterThan(0);
      expect(c.baseline).toBeGreaterThan(0);
      expect(c.ratio).toBeCloseTo(c.value! / c.baseline!, 6);
      expect(typeof c.pass).toBe('boolean');
    }
    // Against restic, which did not run: n/a, never a made-up verdict.
    for (const key of ['P1 vs restic', 'P2 vs restic', 'P3 large file', 'P3 small files']) {
      expect(checks[key]).toMatchObject({ baseline: null, pass: null });
      expect(checks[key]!.value).toBeGreaterThan(0);
    }
    for (const key of ['P4 agent VmHWM', 'P6 request → snapshot start', 'P5 local disk (du) / tree']) {
      expect(typeof checks[key]!.value).toBe('number');
      expect(typeof checks[key]!.pass).toBe('boolean');
    }

    const { figures } = doc;
    for (const r of [figures.large.first, figures.large.rerun, figures.small.first, figures.small.rerun]) {
      expect(r.status).toBe('verified');
      expect(r.seconds).toBeLessThanOrEqual(r.totalSeconds);
      expect(Object.keys(r.stages)).toEqual(expect.arrayContaining(['snapshot', 'hash']));
    }
    expect(figures.large.peers.cp.rerunAs).toBe('cp -al');
    expect(figures.series).toMatchObject({
      files: 20,
      days: 3,
      changedPerDay: 1,
      fileVersions: 21,
      notVerified: [],
    });
    expect(figures.series.pgFirstBytes).toBeGreaterThan(figures.series.pgEmptyBytes);

    // The same, printed: every target with a verdict.
    for (const id of ['P1', 'P2', 'P3', 'P4', 'P5', 'P6'])
      expect(stdout).toMatch(new RegExp(`\\b${id} (PASS|FAIL|n/a)\\b`));
    expect(stdout).toMatch(/^1 MiB file, first +\d+\.\d\d s/m);
  }, 180_000);

  it('stopped with SIGINT mid-run, stops its roles and leaves no database or data behind', async () => {
    const databases = async () => {
      const r = await pool.query("SELECT datname FROM pg_database WHERE datname LIKE 'fbt_bench_compare_%'");
      return r.rows.map((row) => row.datname as string).sort();
    };
    const before = await databases();
    const child = spawn(process.execPath, [SCRIPT, '--only', 'fleet', '--mib', '1', '--files', '10'], {
      env: { ...process.env, REDIS_URL: services!.redisUrl, DATABASE_URL: services!.databaseUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    await waitFor(() => out.includes('fleet-backup: large file, first'), {
      timeoutMs: 90_000,
      what: 'the fleet run',
    });
    child.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    const work = /under (\S+)…/.exec(out)?.[1];
    expect(work).toBeTruthy();
    await expect(access(work!)).rejects.toThrow(/ENOENT/);
    expect(await databases()).toEqual(before);
    expect(out).toMatch(/SIGINT: stopping the fleet-backup processes/);
  }, 120_000);

  it('refuses an unknown runner with the usage, exit code 2', async () => {
    const err = await run(process.execPath, [SCRIPT, '--only', 'fleet,tar']).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/--only: unknown runner "tar"/);
    expect(err.stderr).toMatch(/usage: node tests\/bench\/compare\.ts/);
  });
});
