import { createLogger, loadConfig } from '@fleet-backup/config';
import { unprintable } from '@fleet-backup/core';
import { TokenStore } from '@fleet-backup/db';
import { buildServer } from '@fleet-backup/producer';
import { hostQueueNames, POOL_QUEUE } from '@fleet-backup/queue';
import { openRuntime, type Runtime, verifyChange } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRAFTED_STRINGS, deep, fuzzString, fuzzValue, type Random, random } from './fuzz-support.ts';

const services = await serviceUrls();
const SEED = Number(process.env.FUZZ_SEED ?? 20261206);
const CASES = Number(process.env.FUZZ_CASES ?? 3_000);
const HOST = 'fuzz-01';
const ADMIN = 'fuzz-api-bootstrap-admin-token';

/** Crafted strings no field takes: control characters, lone surrogates. */
const UNPRINTABLE = CRAFTED_STRINGS.filter((s) => unprintable(s) !== null);

type Scope = 'admin' | 'read' | 'pre_change' | 'none' | 'bogus';
const SCOPES: readonly Scope[] = ['admin', 'read', 'pre_change', 'none', 'bogus'];

/** Well-formed bodies of the API's write routes; the fuzzer mutates them. */
const VALID_BODIES: Record<string, () => Record<string, unknown>> = {
  'POST /v1/pre-change': () => ({
    host: HOST,
    paths: ['/srv/fuzz/app'],
    description: 'fuzz',
    change_ticket: 'CHG-F',
  }),
  'POST /v1/backups': () => ({ host: HOST, kind: 'daily', paths: ['/srv/fuzz/app'] }),
  'POST /v1/changes/:ticket/verify': () => ({ verified_by: 'alice' }),
  'POST /v1/changes/:ticket/fail': () => ({ reported_by: 'alice', reason: 'broke' }),
  'POST /v1/backups/:id/retire': () => ({ by: 'alice' }),
};

/** Percent-encodes a string for a URL; a lone surrogate (no UTF-8 form) goes as the bytes WTF-8 would give it. */
function enc(s: string): string {
  return s.isWellFormed() ? encodeURIComponent(s) : `${encodeURIComponent(s.toWellFormed())}%ED%A0%80`;
}

interface Case {
  opts: InjectOptions;
  /** The body is malformed whatever else is right: a 2xx would accept bad input. */
  invalidBody: boolean;
  what: string;
}

describe.skipIf(!services)('fuzz: every API route, every scope (issue 10)', () => {
  let iso: Isolated;
  let rt: Runtime;
  let app: FastifyInstance;
  let routes: { method: string; url: string }[] = [];
  const errorLines: string[] = [];
  const secrets: Record<Scope, string | null> = {
    admin: ADMIN,
    read: '',
    pre_change: '',
    none: null,
    bogus: 'fbk_bogus',
  };
  const known = { id: '', key: '', ticket: 'CHG-F' };

  beforeAll(async () => {
    iso = await isolate(services!, 'fuzz-api');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      BOARD_ADMIN_PASSWORD: 'fuzz-board-admin-password',
    });
    // Only error lines are kept: "request failed" is how the producer logs a failure of its own.
    const destination = {
      write: (line: string) => {
        if (line.includes('"level":50') || line.includes('request failed')) errorLines.push(line);
      },
    };
    rt = await openRuntime(
      { ...config, targets: [] },
      { name: 'fuzz-api', log: createLogger('info', 'fuzz-api', { destination }) },
    );
    await rt.hosts.touch(HOST);
    const tokens = new TokenStore(rt.pool, rt.clock);
    secrets.read = (await tokens.create({ name: 'fuzz-read', scope: 'read' })).token;
    secrets.pre_change = (
      await tokens.create({
        name: 'fuzz-deployer',
        scope: 'pre_change',
        hosts: [HOST],
        pathPrefixes: ['/srv/fuzz'],
      })
    ).token;
    const { backup } = await rt.backups.create({
      request: {
        host: HOST,
        kind: 'pre_change',
        paths: ['/srv/fuzz/app'],
        description: 'seeded',
        ticket: 'CHG-F',
      },
      targets: [],
      dailyRetentionDays: 30,
    });
    Object.assign(known, { id: backup.id, key: backup.key });
    await verifyChange(rt, { ticket: 'CHG-F', by: 'seed', via: 'test' });
    const server = await buildServer(rt, { token: ADMIN });
    app = server.app;
    routes = server.routes;
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  /** Backup rows and jobs in every queue: what a refused request must leave as it was. */
  async function footprint(): Promise<{ backups: number; jobs: number }> {
    const rows = await rt.pool.query<{ n: string }>('SELECT count(*) AS n FROM backups');
    let jobs = 0;
    for (const name of [POOL_QUEUE, ...hostQueueNames(HOST)]) {
      const counts = await rt.queues.queue(name).getJobCounts();
      jobs += Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return { backups: Number(rows.rows[0]!.n), jobs };
  }

  function paramValue(r: Random, name: string): string {
    if (r.chance(0.35)) {
      if (name === 'id') return r.pick([known.id, known.key]);
      if (name === 'ticket') return known.ticket;
    }
    const raw = r.chance(0.1) ? r.pick(['%00', '%zz', '%2F..%2F', '%ED%A0%80', '%C0%AF']) : null;
    return raw ?? (enc(fuzzString(r)).slice(0, 20_000) || 'x');
  }

  function fuzzUrl(r: Random, pattern: string): string {
    let url = pattern.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => paramValue(r, name));
    url = url.replace(/\*$/, () => (r.chance(0.5) ? paramValue(r, 'wild') : ''));
    if (r.chance(0.5)) {
      const keys = [
        'host',
        'limit',
        'page',
        'status',
        'activeQueue',
        'jobsPerPage',
        '__proto__',
        'constructor',
      ];
      const parts: string[] = [];
      for (let i = 1 + r.int(3); i > 0; i--) {
        const key = r.chance(0.8) ? r.pick(keys) : enc(fuzzString(r)).slice(0, 200);
        const value = r.chance(0.2) ? r.pick(['%00', '%zz', '']) : enc(fuzzString(r)).slice(0, 5_000);
        parts.push(`${key}=${value}`);
        if (r.chance(0.2)) parts.push(`${key}=${value}`);
      }
      url += `?${parts.join('&')}`;
    }
    return url;
  }

  /** A body for the route: a valid one, mutated (mostly into an invalid one), or random. */
  function fuzzBody(r: Random, routeKey: string): { payload?: string; invalid: boolean; what: string } {
    const valid = VALID_BODIES[routeKey];
    if (!valid || r.chance(0.1)) {
      if (r.chance(0.5)) return { invalid: false, what: 'no body' };
      const payload = r.chance(0.15)
        ? r.pick(['{', '{"a":', '[', 'nul', '"\\ud800"', '{"__proto__":{"x":1}}'])
        : JSON.stringify(fuzzValue(r));
      // Our GET routes take no body; a malformed document is never a valid one.
      const ours = routeKey.includes(' /v1/');
      return { payload, invalid: ours && (routeKey.startsWith('GET') || !valid), what: 'random body' };
    }
    const body = valid();
    const fields = Object.keys(body);
    const field = r.pick(fields);
    switch (r.int(9)) {
      case 0:
        return { payload: JSON.stringify(body), invalid: false, what: 'valid body' };
      case 1:
        return {
          payload: JSON.stringify({
            ...body,
            [r.pick(['extra', 'id2', 'kind', 'scope', 'Host', fuzzString(r) || 'x'])]: fuzzValue(r),
          }),
          invalid: true,
          what: 'unknown field',
        };
      case 2: {
        const raw = JSON.stringify(body).replace(/^\{/, '{"__proto__":{"polluted":true},');
        return { payload: raw, invalid: true, what: '__proto__' };
      }
      case 3:
        return {
          payload: JSON.stringify({
            ...body,
            [field]: r.pick(UNPRINTABLE),
          }),
          invalid: true,
          what: `control character in ${field}`,
        };
      case 4: {
        const wrong = r.pick([42, true, null, { a: 1 }, deep(50 + r.int(3_000)), [[body[field]]]]);
        return {
          payload: JSON.stringify({ ...body, [field]: wrong }),
          invalid: true,
          what: `wrong type for ${field}`,
        };
      }
      case 5:
        return {
          payload: JSON.stringify({ ...body, [field]: 'x'.repeat(r.pick([5_000, 70_000])) }),
          invalid: true,
          what: `huge ${field}`,
        };
      case 6:
        return {
          payload: JSON.stringify(r.pick([[body], 'body', 7, null])),
          invalid: true,
          what: 'not an object',
        };
      case 7: {
        const value = body[field];
        const asScalar = Array.isArray(value) ? value[0] : [value];
        return {
          payload: JSON.stringify({ ...body, [field]: asScalar }),
          invalid: true,
          what: `array/scalar swap in ${field}`,
        };
      }
      default:
        return {
          payload: JSON.stringify({ ...body, [field]: fuzzString(r) }),
          invalid: false,
          what: `odd string in ${field}`,
        };
    }
  }

  function fuzzCase(r: Random, route: { method: string; url: string }): Case {
    const scope = r.pick(SCOPES);
    const routeKey = `${route.method} ${route.url}`;
    const body = fuzzBody(r, routeKey);
    const headers: Record<string, string> = {};
    const secret = secrets[scope];
    if (secret !== null) {
      headers.authorization = r.chance(0.85)
        ? `Bearer ${secret}`
        : `Basic ${Buffer.from(`${r.pick(['admin', 'viewer', ''])}:${secret}`).toString('base64')}`;
    }
    if (body.payload !== undefined) {
      headers['content-type'] = r.chance(0.85)
        ? 'application/json'
        : r.pick([
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/json; charset=latin1',
            'multipart/form-data',
          ]);
    }
    if (r.chance(0.1))
      headers[r.pick(['x-forwarded-for', 'forwarded', 'x-fuzz', 'accept'])] = fuzzString(r).replace(
        /[^\x20-\x7e]/g,
        '?',
      );
    const url = fuzzUrl(r, route.url);
    return {
      opts: {
        method: route.method as InjectOptions['method'],
        url,
        headers,
        ...(body.payload !== undefined ? { payload: body.payload } : {}),
      },
      invalidBody: body.invalid,
      what: `${scope} ${route.method} ${url.slice(0, 120)} [${body.what}]`,
    };
  }

  it('never answers 5xx, never 2xx to an invalid body, leaves nothing behind when it refuses, and logs no internal error', async () => {
    expect(routes.length).toBeGreaterThan(10);
    const ours = routes.filter((r) => r.url.startsWith('/v1/'));
    // Every route of ours that takes a body has a valid one to mutate: a new route must add it here.
    for (const r of ours.filter((x) => x.method === 'POST'))
      expect(Object.keys(VALID_BODIES)).toContain(`${r.method} ${r.url}`);
    const r = random(SEED);
    const failures: string[] = [];
    const tally = { cases: 0, byStatus: {} as Record<string, number>, invalid: 0, invalidAccepted: 0 };
    for (let i = 0; i < CASES; i++) {
      // Our API routes get two thirds of the cases; Bull Board, health and metrics the rest.
      const route = r.chance(0.66) ? r.pick(ours) : r.pick(routes);
      const c = fuzzCase(r, route);
      const before = await footprint();
      const res = await app.inject(c.opts);
      tally.cases++;
      const klass = `${Math.floor(res.statusCode / 100)}xx`;
      tally.byStatus[klass] = (tally.byStatus[klass] ?? 0) + 1;
      if (c.invalidBody) tally.invalid++;
      if (res.statusCode >= 500) failures.push(`${res.statusCode} for ${c.what}: ${res.body.slice(0, 200)}`);
      if (c.invalidBody && res.statusCode < 300) {
        tally.invalidAccepted++;
        failures.push(`${res.statusCode} for an invalid body: ${c.what}`);
      }
      if (res.statusCode >= 300) {
        const after = await footprint();
        if (after.backups !== before.backups || after.jobs > before.jobs) {
          failures.push(
            `${res.statusCode} left ${JSON.stringify(before)} → ${JSON.stringify(after)}: ${c.what}`,
          );
        }
      }
    }
    console.log(
      `fuzz-api verdict: ${failures.length ? 'FAIL' : 'ok'}: ${tally.cases} cases over ${routes.length} routes (${ours.length} API) × ${SCOPES.length} scopes, seed ${SEED}; ` +
        `answers ${JSON.stringify(tally.byStatus)}; ${tally.invalid} invalid bodies, ${tally.invalidAccepted} accepted; ${failures.length} violations; ${errorLines.length} internal errors logged`,
    );
    expect(failures.slice(0, 20)).toEqual([]);
    expect(errorLines.slice(0, 5)).toEqual([]);
  }, 300_000);
});
