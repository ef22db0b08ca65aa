import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { S3_EMULATOR_CREDENTIALS, type S3Emulator, startS3Emulator } from '@fleet-backup/emulators';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roleInPty } from '../cli/pty.ts';
import { type CliResult, RoleProcess, waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'logs-host';
const BUCKET = 'fbt-logs';

// Distinctive values: if any of them shows up in any output, a secret leaked.
const S3_SECRET = `s3secret${randomBytes(12).toString('hex')}`;
const API_TOKEN = `fbk_apitoken${randomBytes(12).toString('hex')}`;
const METRICS_TOKEN = `metricstoken${randomBytes(12).toString('hex')}`;
const KEY_MATERIAL = randomBytes(32).toString('base64');
const ENCRYPTION_KEY = `logtest:${KEY_MATERIAL}`;
const FILE_SECRET = `filesecret${randomBytes(12).toString('hex')}`;
const SECRETS = { S3_SECRET, API_TOKEN, METRICS_TOKEN, ENCRYPTION_KEY, KEY_MATERIAL, FILE_SECRET };

const STAGE_EVENTS = new Set(['started', 'done', 'retrying', 'failed']);
const BACKUP_STAGES = new Set(['snapshot', 'hash', 'replicate', 'verify']);

type Line = Record<string, unknown>;

function jsonLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

describe.skipIf(!services)('logs: one JSON line per stage event, and no secret anywhere', () => {
  let stack: Stack;
  let s3: S3Emulator;
  let s3Dir: string;
  let source: string;
  let producer: RoleProcess;
  let worker: RoleProcess;
  let agent: RoleProcess;
  const cliRuns: CliResult[] = [];
  let backupId: string;

  // s3rver checks the access key id, not the signature: any secret works with its own id.
  const s3Target = (name: string, accessKeyId: string) => ({
    name,
    url: `s3://${BUCKET}/${name}?endpoint=${s3.endpoint}&forcePathStyle=true&checksums=none`,
    offsite: true,
    encryption: 'none',
    // By reference, from a variable whose name does not look secret: only the reference says it is.
    options: { credentials: { accessKeyId, secretAccessKey: { env: 'LOGS_S3_WORD' } } },
  });
  const events = (role: RoleProcess) =>
    jsonLines(role.log).filter((l) => STAGE_EVENTS.has(l.event as string));
  const allOutput = () =>
    [producer, worker, agent].map((r) => r.log).join('\n') +
    cliRuns.map((r) => r.stdout + r.stderr).join('\n');

  beforeAll(async () => {
    s3Dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-logs-s3-'));
    s3 = await startS3Emulator({ dir: s3Dir, buckets: [BUCKET] });
    source = await mkdtemp(path.join(os.tmpdir(), 'fbt-logs-src-'));
    await mkdir(path.join(source, 'etc'), { recursive: true });
    await writeFile(path.join(source, 'etc', 'app.yaml'), 'port: 8080\n');
    // A sensitive file: encrypted with ENCRYPTION_KEY before it leaves the host.
    await writeFile(path.join(source, '.env'), `DB_PASSWORD=${FILE_SECRET}\n`);
    await writeFile(path.join(source, 'data.bin'), randomBytes(200_000));
    stack = await createStack(services!, 'logs', {
      hosts: { [HOST]: { sources: [{ path: source }] } },
      // Both carry the distinctive secret; s3-denied's access key id is unknown, so it fails for good.
      targets: [s3Target('s3', S3_EMULATOR_CREDENTIALS.accessKeyId), s3Target('s3-denied', 'AKIADENIED')],
    });
    const env = { API_TOKEN, METRICS_TOKEN, ENCRYPTION_KEY, LOG_LEVEL: 'debug', LOGS_S3_WORD: S3_SECRET };
    Object.assign(stack.env, env);
    producer = await stack.start(['producer']);
    worker = await stack.start(['worker']);
    agent = await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await s3?.stop();
    for (const dir of [s3Dir, source]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs a backup through a target outage (retried) and a target with bad credentials (failed)', async () => {
    await s3.stop();
    const run = await stack.cli(['backup', '--host', HOST, '--kind', 'daily', '--path', source, '--json']);
    cliRuns.push(run);
    expect(run.code, run.stderr).toBe(0);
    backupId = JSON.parse(run.stdout).id;
    const replicateS3 = (l: Line) => l.stage === 'replicate' && l.target === 's3' && l.backupId === backupId;
    await waitFor(() => events(agent).some((l) => replicateS3(l) && l.event === 'retrying'), {
      timeoutMs: 60_000,
      what: 'replicate to s3 to fail while the emulator is down',
      detail: () => agent.log.slice(-3000),
    });
    s3 = await startS3Emulator({ dir: s3Dir, port: s3.port, buckets: [BUCKET] });
    const verified = (target: string) =>
      events(worker).some((l) => l.stage === 'verify' && l.target === target && l.event === 'done');
    await waitFor(() => verified('s3') && verified('second'), {
      timeoutMs: 90_000,
      what: 'verify done on s3 and second',
      detail: () => `${agent.log.slice(-2000)}\n${worker.log.slice(-2000)}`,
    });
    await waitFor(() => events(agent).some((l) => l.target === 's3-denied' && l.event === 'failed'), {
      timeoutMs: 30_000,
      what: 'replicate to s3-denied to fail for good',
    });
    const shown = await stack.cli(['show', backupId, '--json']);
    cliRuns.push(shown);
    const copies = (JSON.parse(shown.stdout) as { copies: { target: string; status: string }[] }).copies;
    expect(Object.fromEntries(copies.map((c) => [c.target, c.status]))).toMatchObject({
      s3: 'verified',
      second: 'verified',
      's3-denied': 'pending',
    });
    // The API, with the token and with a wrong one; /metrics with its token.
    const api = producer.log.match(/"url":"(http:[^"]+)"/)![1]!;
    expect(
      (await fetch(`${api}/v1/backups`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).status,
    ).toBe(200);
    expect(
      (await fetch(`${api}/v1/backups`, { headers: { authorization: `Bearer ${API_TOKEN}x` } })).status,
    ).toBe(401);
    expect(
      (await fetch(`${api}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status,
    ).toBe(200);
  });

  it('logs each stage event once, as JSON with backupId, host, stage, jobId, attempt and target', async () => {
    const lines = [...events(agent), ...events(worker)].filter((l) => l.backupId === backupId);
    const seen = new Set<string>();
    for (const line of lines) {
      expect(line, JSON.stringify(line)).toMatchObject({
        backupId,
        host: HOST,
        jobId: expect.any(String),
        attempt: expect.any(Number),
        stage: expect.any(String),
        level: expect.any(Number),
        time: expect.any(Number),
      });
      if (line.stage === 'replicate' || line.stage === 'verify')
        expect(line.target, JSON.stringify(line)).toEqual(expect.any(String));
      if (line.event !== 'started') expect(line.durationMs).toEqual(expect.any(Number));
      const key = `${line.jobId}#${line.attempt}#${line.event}`;
      expect(seen.has(key), `two lines for ${key}`).toBe(false);
      seen.add(key);
    }
    const has = (stage: string, event: string, target?: string) =>
      lines.some(
        (l) => l.stage === stage && l.event === event && (target === undefined || l.target === target),
      );
    for (const stage of BACKUP_STAGES) expect(has(stage, 'started'), stage).toBe(true);
    expect(has('snapshot', 'done')).toBe(true);
    expect(has('hash', 'done')).toBe(true);
    expect(has('replicate', 'retrying', 's3')).toBe(true);
    expect(has('replicate', 'done', 's3')).toBe(true);
    expect(has('replicate', 'failed', 's3-denied')).toBe(true);
    expect(has('verify', 'done', 'second')).toBe(true);
    // Every attempt that started ended with exactly one line: done, retrying or failed.
    for (const start of lines.filter((l) => l.event === 'started')) {
      const ends = lines.filter(
        (l) => l.jobId === start.jobId && l.attempt === start.attempt && l.event !== 'started',
      );
      expect(ends, `${start.jobId} attempt ${start.attempt}`).toHaveLength(1);
    }
    const retry = lines.find((l) => l.event === 'retrying')!;
    expect(retry.level).toBe(50);
    expect((retry.err as { message?: string }).message).toBeTruthy();
  });

  it('prints no secret value in any output of any process, failures included', () => {
    const out = allOutput();
    expect(out).toContain('stage failed for good');
    for (const [name, value] of Object.entries(SECRETS))
      expect(out.includes(value), `${name} leaked`).toBe(false);
  });

  it('pretty-prints on a terminal, and JSON there too when LOG_FORMAT=json, still without secrets', async () => {
    const pidFile = path.join(stack.iso.dir, 'pty-worker.pid');
    const onTerminal = async (env: Record<string, string>) => {
      const run = await roleInPty(['worker'], { ...stack.env, ...env }, /worker ready/, pidFile);
      expect(run.code, run.stdout).toBe(0);
      for (const [name, value] of Object.entries(SECRETS))
        expect(run.stdout.includes(value), `${name} leaked`).toBe(false);
      return run.stdout.replaceAll('\r', '');
    };
    const pretty = await onTerminal({});
    expect(pretty).toMatch(/INFO.*worker ready/);
    expect(jsonLines(pretty)).toEqual([]);
    const json = await onTerminal({ LOG_FORMAT: 'json' });
    expect(jsonLines(json).map((l) => l.msg)).toContain('worker ready');
  });

  it('pretty-prints in dev mode (FLEET_BACKUP_DEV=1), still without secrets', async () => {
    const dev = new RoleProcess(['worker'], { ...stack.env, FLEET_BACKUP_DEV: '1' });
    try {
      await dev.waitForLog(/worker ready/);
      expect(dev.log).toMatch(/INFO.*worker ready/);
      expect(jsonLines(dev.log)).toEqual([]);
      for (const [name, value] of Object.entries(SECRETS))
        expect(dev.log.includes(value), `${name} leaked`).toBe(false);
    } finally {
      expect(await dev.stop()).toBe(0);
    }
  });
});
