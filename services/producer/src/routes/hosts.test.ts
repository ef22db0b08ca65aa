import { loadConfig } from '@fleet-backup/config';
import { ManualClock } from '@fleet-backup/core';
import { TokenStore } from '@fleet-backup/db';
import { openRuntime, type Runtime, requestDaily } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../server.ts';

const services = await serviceUrls();
const HOUR = 3_600_000;

describe.skipIf(!services)('GET /v1/hosts', () => {
  let iso: Isolated;
  let rt: Runtime;
  let app: FastifyInstance;
  const clock = new ManualClock('2026-03-10T01:00:00Z');
  const secrets = { reader: '', deployer: '' };
  const get = (token?: string) =>
    app.inject({ url: '/v1/hosts', headers: token ? { authorization: `Bearer ${token}` } : {} });

  beforeAll(async () => {
    iso = await isolate(services!, 'hosts-api');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      LOG_LEVEL: 'warn',
    });
    rt = await openRuntime(
      { ...config, targets: [{ name: 'second', url: `file://${iso.dir}`, options: {} }] },
      { name: 'hosts-api', clock },
    );
    const details = {
      sources: [{ path: '/srv/app', config: false }],
      labels: { role: 'web' },
      timeZone: null,
      dailyAt: null,
      dailyJitterMinutes: 0,
    };
    await rt.hosts.register('web-01', { timeZone: 'America/New_York', details });
    await rt.hosts.register('web-02', { timeZone: 'UTC', details });
    // web-01 backed up and verified; web-02 registered at the same time, never backed up.
    const daily = await requestDaily(rt, 'web-01');
    if (daily.outcome === 'skipped') throw new Error(daily.reason);
    await rt.pool.query("UPDATE backups SET status = 'verified' WHERE id = $1", [daily.backup.id]);
    const tokens = new TokenStore(rt.pool, rt.clock);
    secrets.reader = (await tokens.create({ name: 'reader', scope: 'read' })).token;
    secrets.deployer = (
      await tokens.create({
        name: 'deployer',
        scope: 'pre_change',
        hosts: ['web-01'],
        pathPrefixes: ['/srv'],
      })
    ).token;
    app = (await buildServer(rt, { token: null })).app;
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('needs a token with read scope', async () => {
    expect((await get()).statusCode).toBe(401);
    expect((await get(secrets.deployer)).statusCode).toBe(403);
    expect((await get(secrets.reader)).statusCode).toBe(200);
  });

  it('lists every host with its schedule in its zone and its last daily', async () => {
    const body = (await get(secrets.reader)).json();
    expect(body.overdue).toEqual([]);
    expect(body.hosts[0]).toMatchObject({
      host: 'web-01',
      labels: { role: 'web' },
      timeZone: 'America/New_York',
      agent: 'up',
      // DST began in New York on 8 March 2026: 02:00 EDT is 06:00 UTC.
      schedule: { id: 'daily.web-01', at: '02:00', pattern: '0 2 * * *', next: '2026-03-10T06:00:00.000Z' },
      lastDaily: { key: '20260310', status: 'verified', created: '2026-03-10T01:00:00.000Z' },
      overdue: false,
    });
  });

  it('turns hosts overdue as the clock passes the window without a verified daily', async () => {
    clock.advance(27 * HOUR);
    const body = (await get(secrets.reader)).json();
    expect(body.overdue).toEqual(['web-01', 'web-02']);
    const [web01, web02] = body.hosts;
    expect(web01).toMatchObject({ agent: 'down', overdue: true, lastDaily: { status: 'verified' } });
    expect(web01.reason).toMatch(/no verified daily for 27 h \(limit 26 h\); agent not seen since/);
    expect(web02.reason).toMatch(/since registration 27 h ago/);
  });
});
