import { Writable } from 'node:stream';
import { loadConfig } from '@fleet-backup/config';
import { TokenStore } from '@fleet-backup/db';
import { hostQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boardLogins, checkBoardLogin } from './board-auth.ts';
import { buildServer } from './server.ts';

const services = await serviceUrls();
const ADMIN_PASSWORD = 'admin-board-password-1';
const VIEWER_PASSWORD = 'viewer-board-password-1';
const API_TOKEN = 'bootstrap-admin-secret';
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});
const RETRY = `/admin/queues/api/queues/${hostQueueName('web-01')}/some-job/retry`;
const READ_ONLY_RETRY = RETRY.replace('/admin/queues/', '/admin/queues/read-only/');

describe('board logins from configuration', () => {
  const config = (env: Record<string, string>) => loadConfig({ FLEET_BACKUP_HOST: 'h', ...env });

  it('refuses short passwords and one password for both roles', () => {
    expect(() => boardLogins(config({ BOARD_ADMIN_PASSWORD: 'short' }))).toThrow(
      /BOARD_ADMIN_PASSWORD is shorter than 12/,
    );
    expect(() =>
      boardLogins(config({ BOARD_ADMIN_PASSWORD: ADMIN_PASSWORD, BOARD_VIEWER_PASSWORD: ADMIN_PASSWORD })),
    ).toThrow(/must differ/);
    expect(boardLogins(config({ BOARD_VIEWER_PASSWORD: VIEWER_PASSWORD }))).toEqual({
      admin: null,
      viewer: VIEWER_PASSWORD,
    });
  });

  it('takes FLEET_BACKUP_DEV as a flag and refuses anything else', () => {
    expect(config({ FLEET_BACKUP_DEV: '1' }).devMode).toBe(true);
    expect(config({}).devMode).toBe(false);
    expect(() => config({ FLEET_BACKUP_DEV: 'yes please' })).toThrow(/FLEET_BACKUP_DEV must be 1 or 0/);
  });
});

describe.skipIf(!services)('Bull Board behind its login', () => {
  let iso: Isolated;
  let rt: Runtime;
  let tokens: TokenStore;
  let board: FastifyInstance;
  const logged: string[] = [];
  const secrets = { reader: '', ops: '', deployer: '' };

  beforeAll(async () => {
    iso = await isolate(services!, 'board-auth');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      BOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      BOARD_VIEWER_PASSWORD: VIEWER_PASSWORD,
    });
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged.push(String(chunk));
        done();
      },
    });
    rt = await openRuntime(config, { name: 'board-auth-test', log: pino({ level: 'debug' }, sink) });
    await rt.hosts.touch('web-01');
    tokens = new TokenStore(rt.pool, rt.clock);
    board = (await buildServer(rt, { token: API_TOKEN })).app;
  });
  afterAll(async () => {
    await board?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('refuses to start without any login unless in dev mode, where it says so', async () => {
    const bare = { ...rt.config, boardAdminPassword: null, boardViewerPassword: null, apiToken: null };
    await expect(checkBoardLogin(bare, tokens)).rejects.toThrow(
      /Bull Board needs a login.*FLEET_BACKUP_DEV=1/,
    );
    expect(await checkBoardLogin({ ...bare, devMode: true }, tokens)).toMatch(/DEV MODE/);
    expect(await checkBoardLogin({ ...bare, boardViewerPassword: VIEWER_PASSWORD }, tokens)).toBeNull();
    expect(await checkBoardLogin({ ...bare, apiToken: API_TOKEN }, tokens)).toBeNull();
  });

  it('answers 401 with a basic-auth challenge without or with wrong credentials, on both boards', async () => {
    for (const url of ['/admin/queues', '/admin/queues/read-only', '/admin/queues/api/queues']) {
      for (const headers of [{}, basic('admin', 'wrong-password-123'), basic('viewer', ADMIN_PASSWORD)]) {
        const res = await board.inject({ url, headers });
        expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers['www-authenticate']).toMatch(/^Basic realm="fleet-backup board"/);
      }
    }
    // The viewer's password does not open the admin login, nor the admin's the viewer's.
    expect(
      (await board.inject({ url: '/admin/queues', headers: basic('admin', VIEWER_PASSWORD) })).statusCode,
    ).toBe(401);
    expect(logged.join('')).not.toContain(ADMIN_PASSWORD);
  });

  it('gives the admin login the full board, and its writes reach the board', async () => {
    const page = await board.inject({ url: '/admin/queues', headers: basic('admin', ADMIN_PASSWORD) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/<html/i);
    const queues = await board.inject({
      url: '/admin/queues/api/queues',
      headers: basic('admin', ADMIN_PASSWORD),
    });
    expect(
      queues
        .json()
        .queues.map((q: { name: string }) => q.name)
        .sort(),
    ).toEqual(['host.web-01', 'pool', 'urgent.web-01']);
    expect(queues.json().queues.every((q: { readOnlyMode: boolean }) => !q.readOnlyMode)).toBe(true);
    // Past the gate: the board itself answers (no such job), and the action is on record.
    const retry = await board.inject({ method: 'PUT', url: RETRY, headers: basic('admin', ADMIN_PASSWORD) });
    expect(retry.statusCode).toBe(404);
    expect(logged.join('')).toMatch(/"principal":"board admin","method":"PUT".*"msg":"bull board action"/);
  });

  it('sends the viewer to the read-only board and refuses it every write, on either board', async () => {
    const viewer = basic('viewer', VIEWER_PASSWORD);
    const page = await board.inject({
      url: '/admin/queues/queue/host.web-01?status=failed',
      headers: viewer,
    });
    expect(page.statusCode).toBe(303);
    expect(page.headers.location).toBe('/admin/queues/read-only/queue/host.web-01?status=failed');
    expect((await board.inject({ url: '/admin/queues/read-only', headers: viewer })).statusCode).toBe(200);
    const queues = await board.inject({ url: '/admin/queues/read-only/api/queues', headers: viewer });
    expect(queues.statusCode).toBe(200);
    expect(queues.json().queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
    expect((await board.inject({ url: '/admin/queues/api/queues', headers: viewer })).statusCode).toBe(403);
    for (const [method, url] of [
      ['PUT', RETRY],
      ['PUT', READ_ONLY_RETRY],
      ['POST', RETRY],
      ['POST', READ_ONLY_RETRY],
      ['PUT', '/admin/queues/read-only/api/queues/pool/clean/failed'],
      ['PATCH', '/admin/queues/read-only/api/queues/pool/x/update-data'],
      ['DELETE', '/admin/queues/read-only/api/queues/pool/x'],
    ] as const) {
      const res = await board.inject({ method, url, headers: viewer, payload: {} });
      expect(res.statusCode, `${method} ${url}`).toBe(403);
    }
    // The admin may look at the read-only board, but not write through it either.
    const admin = basic('admin', ADMIN_PASSWORD);
    expect((await board.inject({ url: '/admin/queues/read-only', headers: admin })).statusCode).toBe(200);
    expect((await board.inject({ method: 'PUT', url: READ_ONLY_RETRY, headers: admin })).statusCode).toBe(
      403,
    );
  });

  it('takes API tokens: admin scope the full board, read the read-only one, others nothing', async () => {
    secrets.ops = (await tokens.create({ name: 'ops', scope: 'admin' })).token;
    secrets.reader = (await tokens.create({ name: 'reader', scope: 'read' })).token;
    secrets.deployer = (
      await tokens.create({
        name: 'deployer',
        scope: 'pre_change',
        hosts: ['web-01'],
        pathPrefixes: ['/srv'],
      })
    ).token;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const cases: [Record<string, string>, string, string, number][] = [
      [bearer(API_TOKEN), 'GET', '/admin/queues', 200],
      [basic('anyone', secrets.ops), 'GET', '/admin/queues', 200],
      [bearer(secrets.ops), 'PUT', RETRY, 404],
      [basic('anyone', secrets.reader), 'GET', '/admin/queues', 303],
      [bearer(secrets.reader), 'GET', '/admin/queues/read-only/api/queues', 200],
      [bearer(secrets.reader), 'PUT', RETRY, 403],
      [bearer(secrets.reader), 'PUT', READ_ONLY_RETRY, 403],
      [bearer(secrets.deployer), 'GET', '/admin/queues/read-only', 403],
      [bearer('fbk_unknown'), 'GET', '/admin/queues/read-only', 401],
    ];
    for (const [headers, method, url, status] of cases) {
      const res = await board.inject({ method: method as 'GET', url, headers });
      expect(res.statusCode, `${JSON.stringify(headers)} ${method} ${url}`).toBe(status);
    }
    expect(logged.join('')).not.toContain(secrets.ops);
  });

  it('in dev mode with no login configured, serves direct loopback clients only, until a token exists', async () => {
    const dev = await isolate(services!, 'board-dev');
    const devRt = await openRuntime(
      loadConfig({
        REDIS_URL: dev.redisUrl,
        DATABASE_URL: dev.databaseUrl,
        QUEUE_PREFIX: dev.queuePrefix,
        FLEET_BACKUP_DEV: '1',
      }),
      { name: 'board-dev-test', log: pino({ level: 'silent' }) },
    );
    try {
      const app = (await buildServer(devRt, { token: null })).app;
      expect((await app.inject({ url: '/admin/queues' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'PUT', url: RETRY })).statusCode).toBe(404);
      const proxied = await app.inject({
        url: '/admin/queues',
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
      expect(proxied.statusCode).toBe(401);
      await new TokenStore(devRt.pool, devRt.clock).create({ name: 'first', scope: 'read' });
      expect((await app.inject({ url: '/admin/queues' })).statusCode).toBe(401);
      await app.close();
    } finally {
      await devRt.close();
      await dev.cleanup();
    }
  });
});
