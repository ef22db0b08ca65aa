import { Writable } from 'node:stream';
import { loadConfig } from '@fleet-backup/config';
import { TokenStore } from '@fleet-backup/db';
import { hostQueueNames, urgentQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from './server.ts';

const services = await serviceUrls();
const BOOTSTRAP = 'bootstrap-admin-secret';
const preChange = {
  host: 'db-01',
  paths: ['/srv/db'],
  description: 'Before schema v2',
  change_ticket: 'CHG-100',
};

describe.skipIf(!services)('API authentication and scopes', () => {
  let iso: Isolated;
  let rt: Runtime;
  let guarded: FastifyInstance;
  let open: FastifyInstance;
  const logged: string[] = [];
  const secrets: Record<'deployer' | 'reader' | 'ops' | 'revoked', string> = {
    deployer: '',
    reader: '',
    ops: '',
    revoked: '',
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const basic = (token: string) => ({
    authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}`,
  });
  // Both lanes of both agents: a pre-change's stages go to the urgent one.
  const queued = async () => {
    let n = 0;
    for (const name of [...hostQueueNames('db-01'), ...hostQueueNames('web-01')])
      n += await rt.queues.queue(name).count();
    return n;
  };
  const backups = async () => Number((await rt.pool.query('SELECT count(*) AS n FROM backups')).rows[0].n);

  beforeAll(async () => {
    iso = await isolate(services!, 'auth');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
    });
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged.push(String(chunk));
        done();
      },
    });
    rt = await openRuntime(
      { ...config, targets: [{ name: 'second', url: `file://${iso.dir}`, options: {} }] },
      { name: 'auth-test', log: pino({ level: 'debug' }, sink) },
    );
    await rt.hosts.touch('db-01');
    await rt.hosts.touch('web-01');
    open = (await buildServer(rt, { token: null })).app;
    guarded = (await buildServer(rt, { token: BOOTSTRAP })).app;
  });
  afterAll(async () => {
    await open?.close();
    await guarded?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('serves direct loopback clients without a token only while no token exists at all', async () => {
    expect((await open.inject({ url: '/v1/backups' })).statusCode).toBe(200);
    const proxied = await open.inject({ url: '/v1/backups', headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(proxied.statusCode).toBe(401);
    expect((await guarded.inject({ url: '/v1/backups' })).statusCode).toBe(401);
    expect((await guarded.inject({ url: '/v1/backups', headers: bearer(BOOTSTRAP) })).statusCode).toBe(200);

    const tokens = new TokenStore(rt.pool, rt.clock);
    secrets.deployer = (
      await tokens.create({ name: 'deployer', scope: 'pre_change', hosts: ['db-01'], pathPrefixes: ['/srv'] })
    ).token;
    secrets.reader = (await tokens.create({ name: 'reader', scope: 'read' })).token;
    secrets.ops = (await tokens.create({ name: 'ops', scope: 'admin' })).token;
    secrets.revoked = (await tokens.create({ name: 'old', scope: 'admin' })).token;
    await tokens.revoke('old');

    const closed = await open.inject({ url: '/v1/backups' });
    expect(closed.statusCode).toBe(401);
    expect(closed.json().message).toMatch(/tokens create/);
    expect((await open.inject({ url: '/v1/backups', headers: bearer(secrets.reader) })).statusCode).toBe(200);
  });

  it('answers 401 without, with a wrong or with a revoked token, and enqueues nothing', async () => {
    for (const headers of [
      {},
      bearer('fbk_wrong'),
      bearer(secrets.revoked),
      basic('nope'),
      { authorization: 'Bearer ' },
    ]) {
      const res = await guarded.inject({
        method: 'POST',
        url: '/v1/pre-change',
        headers,
        payload: preChange,
      });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
    }
    // Auth comes before the body: an unauthenticated malformed request is 401, not 400.
    const broken = await guarded.inject({
      method: 'POST',
      url: '/v1/pre-change',
      headers: { 'content-type': 'application/json' },
      payload: '{"host":',
    });
    expect(broken.statusCode).toBe(401);
    expect(await queued()).toBe(0);
    expect(await backups()).toBe(0);
  });

  it('opens each route to its scopes only: read, pre_change, admin (and Bull Board to admin)', async () => {
    const cases: [string, string, string, number][] = [
      ['reader', 'GET', '/v1/backups', 200],
      ['deployer', 'GET', '/v1/backups', 403],
      ['reader', 'POST', '/v1/pre-change', 403],
      ['reader', 'POST', '/v1/backups', 403],
      ['deployer', 'POST', '/v1/backups', 403],
      ['reader', 'POST', '/v1/changes/CHG-100/verify', 403],
      ['reader', 'GET', '/admin/queues', 303], // to the read-only board (board-auth.test.ts)
      ['deployer', 'GET', '/admin/queues', 403],
      ['ops', 'GET', '/admin/queues', 200],
      ['ops', 'GET', '/v1/backups', 200],
    ];
    const secretOf = (who: string) => secrets[who as keyof typeof secrets];
    for (const [who, method, url, status] of cases) {
      const res = await guarded.inject({
        method: method as 'GET',
        url,
        headers: basic(secretOf(who)),
        payload: method === 'POST' ? {} : undefined,
      });
      expect(res.statusCode, `${who} ${method} ${url}`).toBe(status);
      if (status === 403)
        expect(res.json().message).toMatch(
          new RegExp(`token ${who === 'reader' ? 'reader' : 'deployer'} has scope`),
        );
    }
    expect(await queued()).toBe(0);
  });

  it('limits a pre_change token to its hosts and path prefixes, writing and enqueueing nothing outside them', async () => {
    for (const [payload, reason] of [
      [{ ...preChange, host: 'web-01' }, /may not act on host web-01/],
      [{ ...preChange, paths: ['/etc/passwd'] }, /may not back up \/etc\/passwd/],
      [{ ...preChange, paths: ['/srv/db', '/srvx'] }, /may not back up \/srvx/],
    ] as const) {
      const res = await guarded.inject({
        method: 'POST',
        url: '/v1/pre-change',
        headers: bearer(secrets.deployer),
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(403);
      expect(res.json().message).toMatch(reason);
    }
    expect(await queued()).toBe(0);
    expect(await backups()).toBe(0);

    const ok = await guarded.inject({
      method: 'POST',
      url: '/v1/pre-change',
      headers: bearer(secrets.deployer),
      payload: preChange,
    });
    expect(ok.statusCode).toBe(202);
    expect(await rt.queues.queue(urgentQueueName('db-01')).count()).toBe(1);
    expect(
      (await guarded.inject({ url: `/v1/backups/${ok.json().id}`, headers: bearer(secrets.deployer) }))
        .statusCode,
    ).toBe(200);

    // Someone else's backup: an admin asks for one on web-01; the deployer may neither read it nor report on it.
    const other = await guarded.inject({
      method: 'POST',
      url: '/v1/pre-change',
      headers: bearer(secrets.ops),
      payload: { ...preChange, host: 'web-01', change_ticket: 'CHG-WEB' },
    });
    expect(other.statusCode).toBe(202);
    expect(
      (await guarded.inject({ url: `/v1/backups/${other.json().id}`, headers: bearer(secrets.deployer) }))
        .statusCode,
    ).toBe(403);
    const report = await guarded.inject({
      method: 'POST',
      url: '/v1/changes/CHG-WEB/verify',
      headers: bearer(secrets.deployer),
      payload: { verified_by: 'mallory' },
    });
    expect(report.statusCode).toBe(403);
    expect((await rt.pool.query('SELECT count(*)::int AS n FROM change_events')).rows[0].n).toBe(0);
    expect(
      (
        await guarded.inject({ url: `/v1/backups/${other.json().id}`, headers: bearer(secrets.reader) })
      ).json().change,
    ).toMatchObject({ status: 'pending_verification' });
  });

  it('answers a malformed body with 400 and the reason, enqueueing nothing', async () => {
    const before = { jobs: await queued(), rows: await backups() };
    for (const [payload, reason] of [
      [{ ...preChange, paths: ['srv/db'] }, /paths\.0: path srv\/db is not absolute/],
      [{ ...preChange, paths: ['/srv/../etc'] }, /not normalised/],
      [{ ...preChange, change_ticket: undefined }, /change_ticket/],
      [{ ...preChange, description: '' }, /description/],
      [{ ...preChange, retention: 'forever' }, /retention must be days_N, permanent or until_verified/],
      [{ ...preChange, migration: 'yes' }, /migration/],
      [{ ...preChange, kind: 'daily' }, /kind/],
      [{ ...preChange, host: 'no/slash' }, /host/],
      [[], /expected object/],
    ] as const) {
      const res = await guarded.inject({
        method: 'POST',
        url: '/v1/pre-change',
        headers: bearer(secrets.deployer),
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().message).toMatch(reason);
    }
    const broken = await guarded.inject({
      method: 'POST',
      url: '/v1/pre-change',
      headers: { ...bearer(secrets.deployer), 'content-type': 'application/json' },
      payload: '{"host": ',
    });
    expect(broken.statusCode).toBe(400);
    const verify = await guarded.inject({
      method: 'POST',
      url: '/v1/changes/CHG-100/verify',
      headers: bearer(secrets.deployer),
      payload: { verifiedBy: 'alice' },
    });
    expect(verify.statusCode).toBe(400);
    expect(verify.json().message).toMatch(/verified_by/);
    expect({ jobs: await queued(), rows: await backups() }).toEqual(before);
  });

  it('never writes a token to the log', async () => {
    await guarded.inject({ url: '/v1/backups', headers: bearer(`${secrets.ops}x`) });
    expect(logged.join('')).toMatch(/request (unauthenticated|out of scope)/);
    for (const secret of [...Object.values(secrets), BOOTSTRAP])
      expect(logged.join('')).not.toContain(secret);
  });
});
