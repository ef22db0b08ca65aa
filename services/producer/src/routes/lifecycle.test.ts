import { loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { ManualClock } from '@fleet-backup/core';
import { TokenStore } from '@fleet-backup/db';
import { hostQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime, verifyChange } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../server.ts';

const services = await serviceUrls();

describe.skipIf(!services)('POST /v1/backups/:id/retire and GET /v1/report', () => {
  let iso: Isolated;
  let rt: Runtime;
  let app: FastifyInstance;
  const secrets = { admin: '', reader: '' };
  const ids = { unverified: '', verified: '', daily: '' };

  const retire = (id: string, token: string, payload?: unknown, query = '') =>
    app.inject({
      method: 'POST',
      url: `/v1/backups/${id}/retire${query}`,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  const lifecycle = async (id: string) =>
    (await rt.pool.query('SELECT lifecycle FROM backups WHERE id = $1', [id])).rows[0]?.lifecycle ?? null;

  /** A backup whose pipeline finished (rows only: this test is about the API, not the pipeline). */
  async function finished(request: Record<string, unknown>): Promise<string> {
    const { backup } = await rt.backups.create({
      request: { host: 'api-01', paths: ['/srv/app'], ...request } as never,
      targets: rt.targets.refs(),
      dailyRetentionDays: 30,
    });
    await rt.pool.query("UPDATE backup_stages SET status = 'done' WHERE backup_id = $1", [backup.id]);
    await rt.pool.query("UPDATE backup_copies SET status = 'verified' WHERE backup_id = $1", [backup.id]);
    await rt.backups.transaction((tx) => rt.backups.refresh(backup.id, tx));
    return backup.id;
  }

  beforeAll(async () => {
    iso = await isolate(services!, 'lifecycle-api');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      LOG_LEVEL: 'warn',
    });
    rt = await openRuntime(
      { ...config, targets: [{ name: 'second', url: `file://${iso.dir}`, options: {} }] },
      {
        name: 'lifecycle-api',
        clock: new ManualClock('2026-03-10T01:00:00Z'),
        log: capturedLog('lifecycle-api').log,
      },
    );
    await rt.hosts.register('api-01', { timeZone: 'UTC', details: null });
    ids.unverified = await finished({ kind: 'pre_change', description: 'a', ticket: 'CHG-A' });
    ids.verified = await finished({ kind: 'pre_change', description: 'b', ticket: 'CHG-B' });
    ids.daily = await finished({ kind: 'daily' });
    await verifyChange(rt, { ticket: 'CHG-B', by: 'alice', via: 'test' });
    const tokens = new TokenStore(rt.pool, rt.clock);
    secrets.admin = (await tokens.create({ name: 'ops', scope: 'admin' })).token;
    secrets.reader = (await tokens.create({ name: 'reader', scope: 'read' })).token;
    app = (await buildServer(rt, { token: null })).app;
  });

  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('needs an admin token', async () => {
    expect((await retire(ids.verified, '')).statusCode).toBe(401);
    expect((await retire(ids.verified, secrets.reader)).statusCode).toBe(403);
    expect(await lifecycle(ids.verified)).toBe('verified');
  });

  it('refuses with 409 a backup whose change is not verified, or that is no pre_change; 400 and 404 for bad requests', async () => {
    const refused = await retire(ids.unverified, secrets.admin);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().message).toContain('the change CHG-A that api-01/');
    expect((await retire(ids.daily, secrets.admin)).statusCode).toBe(409);
    expect((await retire(ids.verified, secrets.admin, { by: 7 })).statusCode).toBe(400);
    expect((await retire('not-a-uuid', secrets.admin)).statusCode).toBe(400);
    expect((await retire('00000000-0000-4000-8000-000000000000', secrets.admin)).statusCode).toBe(404);
    expect(await lifecycle(ids.unverified)).toBe(null);
    expect(await lifecycle(ids.verified)).toBe('verified');
  });

  it('retires a verified pre_change: the manifest goes at once, the local copy is queued for its agent', async () => {
    const res = await retire(ids.verified, secrets.admin, { by: 'bob' });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({
      id: ids.verified,
      lifecycle: 'retiring',
      removed: ['second'],
      pending: [{ copy: 'local', error: null }],
    });
    const job = await rt.queues.queue(hostQueueName('api-01')).getJob(`${ids.verified}.expire-local`);
    expect(job?.name).toBe('expire-local');
    // Asking again, here by key and host as the CLI and client may, carries on and queues nothing twice.
    const { key } = (await rt.backups.require(ids.verified)) as { key: string };
    const byKey = await retire(key, secrets.admin, undefined, '?host=api-01');
    expect(byKey.json()).toMatchObject({ id: ids.verified, lifecycle: 'retiring' });
    const row = await rt.pool.query('SELECT retired_by FROM backups WHERE id = $1', [ids.verified]);
    expect(row.rows[0].retired_by).toBe('bob');
  });

  it('serves the report to read tokens', async () => {
    const res = await app.inject({
      url: '/v1/report',
      headers: { authorization: `Bearer ${secrets.reader}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.waitingForChange.map((b: { ticket: string }) => b.ticket)).toEqual(['CHG-A']);
    expect(body.ending).toEqual([
      expect.objectContaining({ id: ids.verified, lifecycle: 'retiring', pending: ['local'] }),
    ]);
    expect((await app.inject({ url: '/v1/report' })).statusCode).toBe(401);
  });
});
