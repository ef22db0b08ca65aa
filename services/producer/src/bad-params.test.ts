import { createLogger, loadConfig } from '@fleet-backup/config';
import { ManualClock } from '@fleet-backup/core';
import { TokenStore } from '@fleet-backup/db';
import { hostQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildServer } from './server.ts';

const services = await serviceUrls();
const ADMIN = 'bad-params-admin-token';
const HOST = 'h1';

describe.skipIf(!services)('bad input at the API: 400 naming the field, never 500 (issue 10)', () => {
  let iso: Isolated;
  let rt: Runtime;
  let app: FastifyInstance;
  const logLines: string[] = [];
  const tokens = { deployer: '' };
  const admin = { authorization: `Bearer ${ADMIN}` };
  const send = (opts: InjectOptions) => app.inject(opts);
  const preChange = { host: HOST, paths: ['/srv/h1/app'], description: 'before v2', change_ticket: 'CHG-1' };

  async function counts() {
    const rows = await rt.pool.query<{ n: string }>('SELECT count(*) AS n FROM backups');
    const jobs = await rt.queues.queue(hostQueueName(HOST)).count();
    return { backups: Number(rows.rows[0]!.n), jobs };
  }

  /** The 400 (or 413) that names what is wrong; and nothing logged as our own failure. */
  async function expectRefused(opts: InjectOptions, status: number, message: RegExp) {
    const res = await send({ ...opts, headers: { ...admin, ...opts.headers } });
    expect(res.statusCode, `${opts.method} ${opts.url}: ${res.body}`).toBe(status);
    expect(res.json().message, `${opts.method} ${opts.url}`).toMatch(message);
  }

  beforeAll(async () => {
    iso = await isolate(services!, 'bad-params');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
    });
    const log = createLogger('info', 'bad-params', {
      destination: { write: (l: string) => logLines.push(l) },
    });
    rt = await openRuntime(
      { ...config, targets: [] },
      { name: 'bad-params', clock: new ManualClock('2026-06-01T09:30:00Z'), log },
    );
    await rt.hosts.touch(HOST);
    const store = new TokenStore(rt.pool, rt.clock);
    tokens.deployer = (
      await store.create({
        name: 'deployer',
        scope: 'pre_change',
        hosts: [HOST],
        pathPrefixes: ['/srv/h1/app'],
      })
    ).token;
    app = (await buildServer(rt, { token: ADMIN })).app;
  });
  beforeEach(() => {
    logLines.length = 0;
  });
  afterAll(async () => {
    // Every request in this file was the client's fault: none may be logged as a failure of ours.
    await app?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('answers a NUL byte in a query or path parameter with 400 naming it, and logs no internal error', async () => {
    const before = await counts();
    await expectRefused({ url: '/v1/backups?host=%00' }, 400, /^invalid query: host: host id/);
    await expectRefused({ url: '/v1/backups?limit=0x10' }, 400, /^invalid query: limit: /);
    await expectRefused({ url: '/v1/backups?limit=5&limit=6' }, 400, /^invalid query: limit: /);
    await expectRefused({ url: '/v1/backups?bogus=1' }, 400, /^invalid query: Unrecognized key: "bogus"/);
    await expectRefused(
      { method: 'POST', url: '/v1/changes/%00/verify', payload: { verified_by: 'alice' } },
      400,
      /^invalid path parameter: ticket: contains the control character U\+0000/,
    );
    await expectRefused(
      { method: 'POST', url: '/v1/changes/%00/fail', payload: { reported_by: 'alice', reason: 'broke' } },
      400,
      /^invalid path parameter: ticket: /,
    );
    await expectRefused(
      { method: 'POST', url: '/v1/changes/CHG-1/verify', payload: { verified_by: 'al\u0000ice' } },
      400,
      /^invalid body: verified_by: /,
    );
    await expectRefused(
      { method: 'POST', url: '/v1/backups/20260601/retire?host=%00', payload: {} },
      400,
      /^invalid query: host: /,
    );
    await expectRefused(
      { method: 'POST', url: '/v1/backups/20260601/retire', payload: { by: 'x\u0000' } },
      400,
      /^invalid body: by: /,
    );
    await expectRefused({ url: '/v1/backups/%00' }, 400, /^invalid path parameter: id: /);
    await expectRefused(
      { method: 'POST', url: '/v1/changes/%zz/verify', payload: {} },
      400,
      /not a valid url/,
    );
    await expectRefused(
      { url: '/v1/backups', headers: { 'content-type': 'application/json' }, payload: '{"a":1}' },
      400,
      /GET \/v1\/backups takes no body/,
    );
    // Bull Board decodes ?activeQueue= a second time: "%" then a control character made it answer 500.
    await expectRefused(
      { url: '/admin/queues/api/queues?activeQueue=%25%1C' },
      400,
      /^invalid query "activeQueue": contains the control character U\+001C/,
    );
    await expectRefused(
      { url: '/admin/queues/api/queues?activeQueue=50%25' },
      400,
      /^invalid query "activeQueue": is not valid percent-encoding/,
    );
    expect(await counts()).toEqual(before);
    expect(logLines.filter((l) => l.includes('"level":50'))).toEqual([]);
  });

  it('refuses pre-change bodies that were accepted with 202: strict, bounded, printable; nothing recorded or enqueued', async () => {
    const before = await counts();
    const post = (payload: unknown, url = '/v1/pre-change') => ({
      method: 'POST' as const,
      url,
      headers: { 'content-type': 'application/json' },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    await expectRefused(post({ ...preChange, extra: true }), 400, /Unrecognized key: "extra"/);
    await expectRefused(post({ ...preChange, migration: 'true' }), 400, /^invalid body: migration: /);
    await expectRefused(post({ ...preChange, paths: [['/srv/h1/app']] }), 400, /^invalid body: paths\.0: /);
    await expectRefused(
      post({ ...preChange, id: '00000000-0000-0000-0000-000000000000' }),
      400,
      /^invalid body: id: /,
    );
    await expectRefused(
      post(`{"host":"h1","paths":["/srv/h1/app"],"description":"d","change_ticket":"t","__proto__":{"a":1}}`),
      400,
      /./,
    );
    // (b) a 900 KB list of paths: the body limit answers first (413), and the schema would too.
    const huge = Array.from({ length: 9_000 }, (_, i) => `/srv/h1/app/${'p'.repeat(90)}${i}`);
    await expectRefused(
      post({ ...preChange, paths: huge }),
      413,
      /larger than 65536 bytes.*POST \/v1\/pre-change/,
    );
    const many = Array.from({ length: 101 }, (_, i) => `/srv/h1/app/${i}`);
    await expectRefused(post({ ...preChange, paths: many }), 400, /paths: at most 100 paths per request/);
    await expectRefused(
      post({ ...preChange, paths: [`/srv/h1/app/${'n'.repeat(256)}`] }),
      400,
      /paths\.0: path has a component of 256 bytes/,
    );
    // (c) a newline (and any other control character) in a path, a description or a ticket.
    await expectRefused(
      post({ ...preChange, paths: ['/srv/x\n/etc'] }),
      400,
      /paths\.0: path contains the control character U\+000A/,
    );
    await expectRefused(post({ ...preChange, description: 'a\u0085b' }), 400, /description: .*U\+0085/);
    await expectRefused(post({ ...preChange, change_ticket: 'CHG\u007f' }), 400, /change_ticket: .*U\+007F/);
    await expectRefused(
      post({ ...preChange, change_ticket: 'CHG-\ud800' }),
      400,
      /change_ticket: .*surrogate/,
    );
    // The same limits on POST /v1/backups (one schema).
    const backup = { host: HOST, kind: 'daily', paths: ['/srv/x\n/etc'] };
    await expectRefused(post(backup, '/v1/backups'), 400, /paths\.0: path contains the control character/);
    await expectRefused(post({ ...backup, paths: huge }, '/v1/backups'), 413, /larger than 65536 bytes/);
    await expectRefused(post({ ...backup, paths: many }, '/v1/backups'), 400, /at most 100 paths/);
    expect(await counts()).toEqual(before);
    expect(logLines.filter((l) => l.includes('"level":50'))).toEqual([]);
    // The same request, well-formed, is taken.
    const ok = await send({ ...post(preChange), headers: { ...admin, 'content-type': 'application/json' } });
    expect(ok.statusCode, ok.body).toBe(202);
  });

  it('maps a value Postgres refuses to 400, never 500 (the last line of defence)', async () => {
    const { errorAnswer } = await import('./error-answer.ts');
    const pgError = await rt.pool.query('SELECT $1::text', ['a\u0000b']).catch((e: unknown) => e);
    expect((pgError as { code: string }).code).toBe('22021');
    const answer = errorAnswer(pgError, { method: 'GET', url: '/v1/x' });
    expect(answer).toMatchObject({ status: 400, level: 'info', body: { error: 'bad_request' } });
    const badUuid = await rt.pool.query('SELECT $1::uuid', ['nope']).catch((e: unknown) => e);
    expect(errorAnswer(badUuid, { method: 'GET', url: '/v1/x' }).status).toBe(400);
    const ours = await rt.pool.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
    expect(errorAnswer(ours, { method: 'GET', url: '/v1/x' })).toMatchObject({ status: 500, level: 'error' });
  });

  it('answers a reused id with another request 409, without revealing that backup', async () => {
    const id = '3b8f9e1c-5d2a-4c7e-9f10-2a6b8c4d0e13';
    const headers = { authorization: `Bearer ${tokens.deployer}` };
    const first = await send({
      method: 'POST',
      url: '/v1/pre-change',
      headers,
      payload: { ...preChange, id },
    });
    expect(first.statusCode, first.body).toBe(202);
    const retry = await send({
      method: 'POST',
      url: '/v1/pre-change',
      headers,
      payload: { ...preChange, id },
    });
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toMatchObject({ id, created: false });
    const other = { ...preChange, id, paths: ['/srv/h1/app/other'], change_ticket: 'CHG-2' };
    const reused = await send({ method: 'POST', url: '/v1/pre-change', headers, payload: other });
    expect(reused.statusCode).toBe(409);
    expect(reused.json()).toEqual({
      error: 'conflict',
      message: expect.stringMatching(/already names another/),
    });
  });
});
