import { loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { hostQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from './server.ts';

const services = await serviceUrls();

describe.skipIf(!services)('producer HTTP surface', () => {
  let iso: Isolated;
  let rt: Runtime;
  let open: FastifyInstance;
  let guarded: FastifyInstance;

  beforeAll(async () => {
    iso = await isolate(services!, 'server');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      FLEET_BACKUP_HOST: 'api-host',
    });
    rt = await openRuntime(
      { ...config, targets: [{ name: 'second', url: `file://${iso.dir}`, options: {} }] },
      { name: 'test', log: capturedLog('test').log },
    );
    await rt.hosts.touch('api-host');
    open = (await buildServer(rt, { token: null })).app;
    guarded = (await buildServer(rt, { token: 's3cret-token' })).app;
  });
  afterAll(async () => {
    await open?.close();
    await guarded?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('answers health and readiness', async () => {
    expect((await open.inject({ url: '/healthz' })).statusCode).toBe(200);
    const ready = await open.inject({ url: '/readyz' });
    expect(ready.json()).toEqual({ ready: true, redis: true, postgres: true, migrations: true });
  });

  it('rejects malformed requests with 400 and the reason, enqueueing nothing', async () => {
    for (const payload of [
      { host: 'api-host', kind: 'manual', paths: ['relative/path'], purpose: 'x' },
      { host: 'api-host', kind: 'manual', paths: ['/srv'] },
      { host: 'api-host', kind: 'weekly', paths: ['/srv'] },
      { host: 'api-host', kind: 'daily', paths: ['/srv/../etc'] },
    ]) {
      const res = await open.inject({ method: 'POST', url: '/v1/backups', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().message).toBeTruthy();
    }
    const broken = await open.inject({
      method: 'POST',
      url: '/v1/backups',
      headers: { 'content-type': 'application/json' },
      payload: '{"host": ',
    });
    expect(broken.statusCode).toBe(400);
    // A manual backup must say when it may go.
    const forever = await open.inject({
      method: 'POST',
      url: '/v1/backups',
      payload: { host: 'api-host', kind: 'manual', paths: ['/srv'], purpose: 'x' },
    });
    expect(forever.statusCode).toBe(400);
    expect(forever.json().message).toMatch(
      /retention: a manual backup needs --retention days_N or permanent/,
    );
    expect(await rt.queues.queue(hostQueueName('api-host')).count()).toBe(0);
  });

  it('answers 404 for an unknown host and an unknown backup', async () => {
    const res = await open.inject({
      method: 'POST',
      url: '/v1/backups',
      payload: { host: 'ghost', kind: 'daily', paths: ['/srv'] },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toMatch(/unknown host ghost/);
    expect((await open.inject({ url: '/v1/backups/00000000-0000-4000-8000-000000000000' })).statusCode).toBe(
      404,
    );
  });

  it('accepts a backup, enqueues its snapshot on the host queue, and is idempotent for a daily', async () => {
    const payload = { host: 'api-host', kind: 'daily', paths: ['/srv'] };
    const first = await open.inject({ method: 'POST', url: '/v1/backups', payload });
    expect(first.statusCode).toBe(202);
    const again = await open.inject({ method: 'POST', url: '/v1/backups', payload });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    const jobs = await rt.queues.queue(hostQueueName('api-host')).getJobs(['waiting']);
    expect(jobs.map((j) => j.id)).toEqual([`${first.json().id}.snapshot`]);
    const shown = await open.inject({ url: `/v1/backups/${first.json().id}` });
    expect(shown.json()).toMatchObject({ status: 'running', host: 'api-host', kind: 'daily' });
  });

  it('requires the token when one is configured, for the API and for Bull Board', async () => {
    expect((await guarded.inject({ url: '/v1/backups' })).statusCode).toBe(401);
    expect(
      (await guarded.inject({ url: '/v1/backups', headers: { authorization: 'Bearer wrong' } })).statusCode,
    ).toBe(401);
    expect(
      (await guarded.inject({ url: '/v1/backups', headers: { authorization: 'Bearer s3cret-token' } }))
        .statusCode,
    ).toBe(200);
    expect((await guarded.inject({ url: '/admin/queues' })).statusCode).toBe(401);
    const basic = `Basic ${Buffer.from('admin:s3cret-token').toString('base64')}`;
    const board = await guarded.inject({ url: '/admin/queues', headers: { authorization: basic } });
    expect(board.statusCode).toBe(200);
    expect(board.body).toMatch(/<html/i);
    expect((await guarded.inject({ url: '/healthz' })).statusCode).toBe(200);
  });
});
