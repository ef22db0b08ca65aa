import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { METRIC_NAMES } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoleProcess, waitFor } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { RedisServer } from '../support/redis-server.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'metrics-host';
const METRICS_TOKEN = 'metrics-scrape-token-4711';
const auth = { authorization: `Bearer ${METRICS_TOKEN}` };

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (one sample per line; HELP and TYPE comments skipped). */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of one series, or undefined when the scrape does not carry it. */
function sample(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    ?.value;
}

/** The URL a role logged when it started listening (`producer listening` / `metrics listening`). */
function loggedUrl(role: RoleProcess): string {
  for (const line of role.log.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.msg === 'producer listening' || entry.msg === 'metrics listening') return entry.url as string;
  }
  throw new Error(`${role.name} logged no URL:\n${role.log.slice(-2000)}`);
}

/** A worker or agent's metrics server URL, once it listens (after the role is consuming). */
async function metricsUrl(role: RoleProcess): Promise<string> {
  await role.waitForLog('"msg":"metrics listening"');
  return loggedUrl(role);
}

async function scrape(baseUrl: string): Promise<Sample[]> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: auth });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseSamples(await res.text());
}

describe.skipIf(!services)('metrics after a real backup through producer, worker and agent', () => {
  let stack: Stack;
  let emu: Emulators;
  let producerUrl: string;
  let workerUrl: string;
  let agentUrl: string;
  let backupId: string;
  let source: string;

  beforeAll(async () => {
    emu = await startEmulators('metrics');
    source = await mkdtemp(path.join(os.tmpdir(), 'fbt-metrics-src-'));
    await mkdir(path.join(source, 'etc'), { recursive: true });
    await writeFile(path.join(source, 'etc', 'app.yaml'), 'port: 8080\n');
    await writeFile(path.join(source, 'data.bin'), Buffer.alloc(300_000, 7));
    stack = await createStack(services!, 'metrics', {
      hosts: { [HOST]: { sources: [{ path: source }] } },
      targets: [emu.targets()[0]!],
    });
    const env = { METRICS_TOKEN };
    producerUrl = loggedUrl(await stack.start(['producer'], env));
    workerUrl = await metricsUrl(await stack.start(['worker'], { ...env, METRICS_PORT: '0' }));
    agentUrl = await metricsUrl(await stack.start(['agent', '--host', HOST], { ...env, METRICS_PORT: '0' }));
    const run = await stack.cli([
      'backup',
      '--host',
      HOST,
      '--kind',
      'daily',
      '--path',
      source,
      '--wait',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    backupId = JSON.parse(run.stdout).id;
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
    if (source) await rm(source, { recursive: true, force: true });
  });

  it('refuses a scrape without METRICS_TOKEN, and serves health probes without one', async () => {
    for (const base of [producerUrl, workerUrl, agentUrl]) {
      expect((await fetch(`${base}/metrics`)).status, base).toBe(401);
      expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(
        401,
      );
      expect((await fetch(`${base}/healthz`)).status, base).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status, base).toBe(200);
      expect(await ready.json()).toEqual({ ready: true, redis: true, postgres: true, migrations: true });
    }
  });

  it('producer: backups by kind and status, 3-2-1, storage per target, the host daily, queues, up', async () => {
    const m = await scrape(producerUrl);
    expect(sample(m, 'fleet_backup_backups', { kind: 'daily', status: 'verified' })).toBe(1);
    expect(m.filter((s) => s.name === 'fleet_backup_backups').map((s) => s.value)).toEqual([1]);
    expect(sample(m, 'fleet_backup_backups_not_321')).toBeUndefined();
    expect(sample(m, 'fleet_backup_not_321_oldest_age_seconds')).toBe(0);
    expect(sample(m, 'fleet_backup_unverified_oldest_age_seconds')).toBe(0);
    expect(sample(m, 'fleet_backup_copies', { target: 's3', status: 'verified' })).toBe(1);
    expect(sample(m, 'fleet_backup_copies', { target: 'second', status: 'verified' })).toBe(1);
    expect(sample(m, 'fleet_backup_stages_failed')).toBeUndefined();
    for (const target of ['s3', 'second']) {
      // Two distinct files: the 300 kB block and the yaml.
      expect(sample(m, 'fleet_backup_target_storage_bytes', { target })).toBe(300_000 + 11);
      expect(sample(m, 'fleet_backup_target_blobs', { target })).toBe(2);
    }
    // One backup: its files counted once either way.
    for (const measure of ['logical', 'disk'])
      expect(sample(m, 'fleet_backup_local_storage_bytes', { host: HOST, measure })).toBe(300_000 + 11);
    const shown = JSON.parse((await stack.cli(['show', backupId, '--json'])).stdout) as { created: string };
    expect(sample(m, 'fleet_backup_last_daily_success_timestamp_seconds', { host: HOST })).toBe(
      new Date(shown.created).getTime() / 1000,
    );
    expect(sample(m, 'fleet_backup_host_registered_timestamp_seconds', { host: HOST })).toBeGreaterThan(0);
    expect(sample(m, 'fleet_backup_backups_expiring_7d')).toBe(0);
    expect(sample(m, 'fleet_backup_pre_change_pending')).toBe(0);
    expect(sample(m, 'fleet_backup_jobs', { queue: 'pool', state: 'completed' })).toBeGreaterThanOrEqual(2);
    expect(sample(m, 'fleet_backup_jobs', { queue: `host.${HOST}`, state: 'failed' })).toBe(0);
    expect(sample(m, 'fleet_backup_queue_depth', { queue: `host.${HOST}` })).toBe(0);
    // The agent's urgent lane (pre-changes) is counted beside its normal one.
    expect(sample(m, 'fleet_backup_queue_depth', { queue: `urgent.${HOST}` })).toBe(0);
    expect(sample(m, 'fleet_backup_redis_up')).toBe(1);
    expect(sample(m, 'fleet_backup_postgres_up')).toBe(1);
    // Standard process series come along.
    expect(sample(m, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('agent: bytes copied and uploaded, and a duration for each stage it ran', async () => {
    const m = await scrape(agentUrl);
    expect(sample(m, 'fleet_backup_bytes_copied_total')).toBe(300_000 + 11);
    // The files, and the listing segment their manifest names.
    const listing = Number(
      (await stack.iso.pool.query('SELECT sum(octet_length(bytes)) AS n FROM listing_segments')).rows[0].n,
    );
    expect(listing).toBeGreaterThan(0);
    expect(sample(m, 'fleet_backup_bytes_uploaded_total', { target: 's3' })).toBe(300_000 + 11 + listing);
    expect(sample(m, 'fleet_backup_bytes_uploaded_total', { target: 'second' })).toBe(300_000 + 11 + listing);
    const count = (stage: string) =>
      sample(m, 'fleet_backup_stage_duration_seconds_count', { stage, outcome: 'done' });
    expect(count('snapshot')).toBe(1);
    expect(count('hash')).toBe(1);
    expect(count('replicate')).toBe(2);
    expect(
      sample(m, 'fleet_backup_stage_duration_seconds_bucket', {
        stage: 'snapshot',
        outcome: 'done',
        le: '+Inf',
      }),
    ).toBe(1);
    expect(sample(m, 'fleet_backup_stages_running', { stage: 'snapshot' })).toBe(0);
    expect(sample(m, 'fleet_backup_redis_up')).toBe(1);
    expect(sample(m, 'fleet_backup_postgres_up')).toBe(1);
    // Fleet-wide series come from the producer only, so N agents do not multiply them.
    expect(sample(m, 'fleet_backup_backups')).toBeUndefined();
    expect(sample(m, 'fleet_backup_jobs')).toBeUndefined();
  });

  it('worker: bytes verified per target and verify durations', async () => {
    const m = await scrape(workerUrl);
    for (const target of ['s3', 'second'])
      expect(sample(m, 'fleet_backup_bytes_verified_total', { target })).toBe(300_000 + 11);
    expect(sample(m, 'fleet_backup_stage_duration_seconds_count', { stage: 'verify', outcome: 'done' })).toBe(
      2,
    );
    expect(sample(m, 'fleet_backup_redis_up')).toBe(1);
  });

  it('exports only names from the catalog, and every catalog name the producer owns', async () => {
    const ours = new Set(METRIC_NAMES);
    const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
    for (const url of [producerUrl, workerUrl, agentUrl]) {
      for (const s of (await scrape(url)).filter((x) => x.name.startsWith('fleet_backup_')))
        expect(ours.has(s.name) || ours.has(base(s.name)), s.name).toBe(true);
    }
  });

  it('shows the newest drill of each host, and a failed one as 0', async () => {
    const insert = `INSERT INTO drill_runs (id, host, trigger, started_at, finished_at, ok, reason)
                    VALUES (gen_random_uuid(), $1, 'scheduled', $2, $2, $3, $4)`;
    await stack.iso.pool.query(insert, [HOST, new Date(Date.now() - 3_600_000), true, null]);
    await stack.iso.pool.query(insert, [HOST, new Date(), false, 'hash mismatch in data.bin']);
    await waitFor(
      async () => sample(await scrape(producerUrl), 'fleet_backup_drill_last_ok', { host: HOST }) === 0,
      {
        timeoutMs: 15_000,
        what: 'the failed drill in the scrape',
      },
    );
  });

  it('readyz answers 503 while a migration is missing', async () => {
    const [last] = (
      await stack.iso.pool.query<{ name: string }>(
        'SELECT name FROM schema_migrations ORDER BY name DESC LIMIT 1',
      )
    ).rows;
    await stack.iso.pool.query('DELETE FROM schema_migrations WHERE name = $1', [last!.name]);
    try {
      for (const base of [producerUrl, workerUrl]) {
        const res = await fetch(`${base}/readyz`);
        expect(res.status).toBe(503);
        expect(await res.json()).toMatchObject({
          ready: false,
          migrations: false,
          redis: true,
          postgres: true,
        });
      }
    } finally {
      await stack.iso.pool.query('INSERT INTO schema_migrations (name) VALUES ($1)', [last!.name]);
    }
  });

  it('a worker whose Redis is gone still answers: redis_up 0 and readyz 503, within seconds', async () => {
    const redis = await RedisServer.start();
    try {
      const worker = await stack.start(['worker'], {
        REDIS_URL: redis.url,
        METRICS_PORT: '0',
        METRICS_TOKEN,
      });
      const url = await metricsUrl(worker);
      expect(sample(await scrape(url), 'fleet_backup_redis_up')).toBe(1);
      await redis.kill();
      const started = Date.now();
      const m = await scrape(url);
      expect(sample(m, 'fleet_backup_redis_up')).toBe(0);
      expect(sample(m, 'fleet_backup_postgres_up')).toBe(1);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ ready: false, redis: false, postgres: true });
      expect(Date.now() - started).toBeLessThan(6_000);
      await redis.restart();
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, {
        what: 'readyz after Redis is back',
      });
    } finally {
      if (redis.running) await redis.stop();
    }
  });
});
