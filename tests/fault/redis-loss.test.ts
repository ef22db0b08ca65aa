import path from 'node:path';
import { hostQueueName } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleProcess } from '../support/cli.ts';
import { backupStatus, QueueProbe, show, waitForStatus } from '../support/fault.ts';
import { RedisServer } from '../support/redis-server.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'redis-loss-host';

describe.skipIf(!services)('Redis loses everything: the work is rebuilt from Postgres', () => {
  let redis: RedisServer;
  let stack: Stack;
  let probe: QueueProbe;
  let source: string;
  let producer: RoleProcess;
  let worker: RoleProcess;

  beforeAll(async () => {
    // A private Redis, so killing it leaves the shared one (and other test files) alone.
    redis = await RedisServer.start();
    stack = await createStack({ redisUrl: redis.url, databaseUrl: services!.databaseUrl }, 'redis-loss', {
      hosts: { [HOST]: { sources: [] } },
    });
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 2 * 1024 * 1024 });
    probe = new QueueProbe(redis.url, stack.iso.queuePrefix);
    [producer, worker] = await Promise.all([stack.start(['producer']), stack.start(['worker'])]);
  });

  afterAll(async () => {
    await probe?.close();
    // Cleanup deletes the stack's keys, so Redis must be up for it.
    if (redis && !redis.running) await redis.restart();
    await stack?.stop();
    await redis?.stop();
  });

  it('re-enqueues a backup whose queued job Redis lost, and the roles ride out the outage', async () => {
    // No agent yet: the snapshot job waits in Redis.
    const req = await stack.cli([
      'backup',
      '--host',
      HOST,
      '--kind',
      'manual',
      '--purpose',
      'redis loss',
      '--retention',
      'permanent',
      '--path',
      source,
      '--json',
    ]);
    expect(req.code, req.stderr).toBe(0);
    const { id } = JSON.parse(req.stdout) as { id: string };
    const queue = probe.queue(hostQueueName(HOST));
    expect(await queue.getJobState(`${id}.snapshot`)).toBe('waiting');

    await redis.kill();
    // The pool worker notices (and logs) the outage; give every client time to retry a few times.
    await worker.waitForLog('worker connection error', 15_000);
    await new Promise((r) => setTimeout(r, 1_000));
    await redis.restart();
    expect(await queue.getJobState(`${id}.snapshot`)).toBe('unknown');
    expect(await queue.count()).toBe(0);
    expect(await backupStatus(stack, id)).toBe('running');
    expect(producer.alive, producer.log.slice(-2000)).toBe(true);
    expect(worker.alive, worker.log.slice(-2000)).toBe(true);

    // The agent alone finds nothing to do; a fresh producer reconciles at start, from Postgres.
    await stack.start(['agent', '--host', HOST]);
    await stack.start(['producer']);
    expect(await waitForStatus(stack, id, ['verified', 'unverified', 'failed'])).toBe('verified');
    const view = await show(stack, id);
    expect(view.stages.map((s) => [s.stage, s.status, s.attempts])).toEqual([
      ['snapshot', 'done', 1],
      ['hash', 'done', 1],
      ['replicate', 'done', 1],
      ['verify', 'done', 1],
    ]);
    expect(view.copies.map((c) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['second', 'verified'],
    ]);

    // The pool worker that lived through the outage ran verify: it reconnected and consumes again.
    expect(worker.alive).toBe(true);
    // So did the first producer: its readiness check reaches the new Redis.
    const url = /"url":"(http[^"]+)"/.exec(producer.log)?.[1];
    expect(url, producer.log.slice(-2000)).toBeDefined();
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, redis: true });
    for (const role of stack.roles) expect(await role.stop(), role.name).toBe(0);
  }, 120_000);
});
