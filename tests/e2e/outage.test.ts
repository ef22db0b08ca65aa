import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { hostQueueName } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'outage-host';

interface Shown {
  id: string;
  key: string;
  status: string;
  compliance: { ok: boolean; summary: string; missing: string[] };
  copies: { target: string; status: string }[];
}

describe.skipIf(!services)('a target goes down, and later Postgres is lost', () => {
  let stack: Stack;
  let emu: Emulators;
  let source: string;
  let redis: Redis;
  let queue: Queue;
  let backup: { id: string; key: string };

  const show = async (id: string): Promise<Shown> =>
    JSON.parse((await stack.cli(['show', id, '--json'])).stdout);

  beforeAll(async () => {
    emu = await startEmulators('outage');
    // fs + GCS only: with GCS down nothing is offsite.
    stack = await createStack(services!, 'outage', {
      targets: emu.targets().filter((t) => t.name === 'gcs'),
    });
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 3 * 1024 * 1024 });
    redis = new Redis(stack.env.REDIS_URL!, { maxRetriesPerRequest: null });
    queue = new Queue(hostQueueName(HOST), { connection: redis, prefix: stack.env.QUEUE_PREFIX });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await stack?.stop();
    await emu?.stop();
  });

  it('completes the other copies while GCS is down and reports the backup as not 3-2-1, with the reason', async () => {
    await emu.gcs.stop();
    const run = await stack.cli(manualBackup(HOST, 'outage', [source], '--json'));
    backup = JSON.parse(run.stdout);
    const shown = await waitFor(
      async () => {
        const s = await show(backup.id);
        const byTarget = Object.fromEntries(s.copies.map((c) => [c.target, c.status]));
        // The reason shows once the replicate job gave up: RetryingTarget first retries within
        // the job for TARGET_RETRY_SECONDS.
        return byTarget.local === 'verified' &&
          byTarget.second === 'verified' &&
          /copy gcs is pending: \S+/.test(s.compliance.summary)
          ? s
          : null;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'local and second copies to verify while gcs is down' },
    );
    expect(shown.status).toBe('running');
    expect(shown.compliance.ok).toBe(false);
    expect(shown.compliance.summary).toMatch(/^3-2-1: no \(3 copies, 1 kind, 0 offsite\)/);
    expect(shown.compliance.summary).toMatch(/copy gcs is pending: \S+/);
  });

  it('completes once GCS is back and the job is retried, without redoing finished stages', async () => {
    await emu.restartGcs();
    const job = await queue.getJob(`${backup.id}.replicate.gcs`);
    expect(job).toBeTruthy();
    const state = await job!.getState();
    if (state === 'delayed') await job!.promote();
    else if (state === 'failed') await job!.retry();
    const done = await waitFor(
      async () => {
        const s = await show(backup.id);
        return s.status !== 'running' ? s : null;
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'the backup to finish after GCS came back' },
    );
    expect(done.status).toBe('verified');
    expect(done.compliance.summary).toBe('3-2-1: yes (4 copies, 2 kinds, 1 offsite)');
    const stages = JSON.parse((await stack.cli(['show', backup.id, '--json'])).stdout).stages as {
      stage: string;
      attempts: number;
    }[];
    expect(stages.filter((s) => s.stage === 'snapshot' || s.stage === 'hash').map((s) => s.attempts)).toEqual(
      [1, 1],
    );
  });

  it('restores from the bucket alone once the database is gone', async () => {
    for (const role of stack.roles) await role.stop();
    await stack.iso.pool.end();
    await dropDatabase(stack);
    const to = path.join(stack.iso.dir, 'from-bucket');
    const run = await stack.cli([
      'restore',
      '--target',
      'gcs',
      '--host',
      HOST,
      '--backup',
      backup.key,
      '--to',
      to,
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/not recorded/);
    for (const f of await listFiles(source)) {
      expect(
        (await readFile(path.join(to, source.slice(1), f))).equals(await readFile(path.join(source, f))),
      ).toBe(true);
    }
  });
});

async function dropDatabase(stack: Stack): Promise<void> {
  const { default: pg } = await import('pg');
  const url = new URL(stack.env.DATABASE_URL!);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  if (!url.username) url.username = 'root';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(`DROP DATABASE "${name}" WITH (FORCE)`);
  await client.end();
}
