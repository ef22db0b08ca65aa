import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/cli.ts';
import { readText, repoPath } from './support.ts';

const services = await serviceUrls();

/**
 * The final image's files, laid out from the Dockerfile's own COPY lines: no Docker engine runs
 * here, so this is how the tests know the bundle runs with only what the image ships (no
 * sources, no workspace links but @fleet-backup/db). One difference remains: node_modules here
 * also holds the dev dependencies, which `npm ci --omit=dev` leaves out of the image.
 */
function layOutImage(dir: string): void {
  const final = readText('infra/docker/Dockerfile')
    .split(/^FROM /m)
    .at(-1)!;
  const copies = [...final.matchAll(/^COPY (?:--from=\w+ \/app\/)?(\S+) \.\/(\S+)$/gm)];
  expect(copies.length).toBeGreaterThan(5);
  // The deps stage removes every workspace link but db (asserted, since it is mirrored here).
  expect(readText('infra/docker/Dockerfile')).toContain(
    'find node_modules/@fleet-backup -mindepth 1 -maxdepth 1 ! -name db -exec rm -rf {} +',
  );
  for (const [, source, target] of copies) {
    const to = path.join(dir, target!);
    mkdirSync(path.dirname(to), { recursive: true });
    if (source === 'node_modules') {
      mkdirSync(to);
      for (const entry of readdirSync(repoPath('node_modules')).filter((e) => e !== '@fleet-backup'))
        symlinkSync(repoPath('node_modules', entry), path.join(to, entry));
      mkdirSync(path.join(to, '@fleet-backup'));
      symlinkSync('../../libs/db', path.join(to, '@fleet-backup', 'db'));
    } else {
      cpSync(repoPath(source!), to, { recursive: true, verbatimSymlinks: true });
    }
  }
}

describe.skipIf(!services)('the image layout runs a role from the bundle', () => {
  let dir: string;
  let iso: Isolated;
  let worker: ChildProcess | null = null;
  let log = '';

  beforeAll(async () => {
    // The production bundle, as the Dockerfile's build stage makes it.
    execFileSync(process.execPath, [repoPath('services/launcher/build.ts')], { stdio: 'pipe' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'fbt-image-'));
    layOutImage(dir);
    iso = await isolate(services!, 'image-layout');
  }, 120_000);

  afterAll(async () => {
    worker?.kill('SIGKILL');
    await iso?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts a worker with its health endpoints, which the HEALTHCHECK script reads, and stops cleanly', async () => {
    const entrypoint = /^ENTRYPOINT \[(.*)\]$/m.exec(readText('infra/docker/Dockerfile'))![1]!;
    const [, ...args] = JSON.parse(`[${entrypoint}]`) as string[];
    const proc = spawn(process.execPath, [...args, 'worker'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        REDIS_URL: iso.redisUrl,
        DATABASE_URL: iso.databaseUrl,
        QUEUE_PREFIX: iso.queuePrefix,
        DATA_DIR: path.join(iso.dir, 'var'),
        METRICS_PORT: '0',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker = proc;
    proc.stdout.on('data', (d) => (log += d));
    proc.stderr.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    await waitFor(() => log.includes('"msg":"worker ready"') || proc.exitCode !== null, {
      timeoutMs: 30_000,
      what: 'the bundled worker to start',
      detail: () => log.slice(-2000),
    });
    expect(proc.exitCode, log.slice(-2000)).toBeNull();
    await waitFor(() => log.includes('"msg":"metrics listening"'), { timeoutMs: 10_000, what: 'metrics' });
    const url = (/"url":"([^"]+)","msg":"metrics listening"/.exec(log) ?? [])[1]!;

    const check = (target: string) =>
      execFileSync(process.execPath, [path.join(dir, 'healthcheck.mjs')], {
        env: { HEALTHCHECK_URL: target },
        stdio: 'pipe',
      });
    expect(() => check(`${url}/readyz`)).not.toThrow();
    expect(() => check(`${url}/no-such-path`)).toThrow(/answered 404/);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    worker = null;
  });
});
