import { loadConfig } from '@fleet-backup/config';
import { ManualClock, type TreeNode } from '@fleet-backup/core';
import { TokenStore } from '@fleet-backup/db';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realPath } from './scoped-view.ts';
import { buildServer } from './server.ts';

const services = await serviceUrls();
const ADMIN = 'scoped-view-admin-token';
const HOST = 'h1';
const ATTRS = { mode: 0o644, uid: 0, gid: 0, owner: 'root', group: 'root', mtimeNs: '0' };

describe.skipIf(!services)('a pre_change token reads only its scope (issue 10)', () => {
  let iso: Isolated;
  let rt: Runtime;
  let app: FastifyInstance;
  const tokens = { deployer: '' };

  beforeAll(async () => {
    iso = await isolate(services!, 'scoped-view');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      LOG_LEVEL: 'warn',
    });
    rt = await openRuntime(
      { ...config, targets: [] },
      { name: 'scoped-view', clock: new ManualClock('2026-06-01T09:30:00Z') },
    );
    await rt.hosts.touch(HOST);
    tokens.deployer = (
      await new TokenStore(rt.pool, rt.clock).create({
        name: 'deployer',
        scope: 'pre_change',
        hosts: [HOST],
        pathPrefixes: ['/srv/h1/app'],
      })
    ).token;
    app = (await buildServer(rt, { token: ADMIN })).app;
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  const ids = { inScope: '', daily: '' };
  const file = (p: string) => ({
    path: p,
    storedPath: `${p}.bak`,
    cls: 'general' as const,
    size: 1,
    sha256: 'a'.repeat(64),
    hasWal: null,
    attrs: ATTRS,
  });
  const read = (id: string, token: string) =>
    app.inject({ url: `/v1/backups/${id}`, headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    // Asked for /srv/h1/app; its catalog holds a file reached through app/link-to-private, a
    // symlink to ../private (as an agent that followed it would have stored it).
    const { backup } = await rt.backups.create({
      request: {
        host: HOST,
        kind: 'pre_change',
        paths: ['/srv/h1/app'],
        description: 'scoped',
        ticket: 'CHG-S',
      },
      targets: [],
      dailyRetentionDays: 30,
    });
    ids.inScope = backup.id;
    const link: TreeNode = {
      path: 'srv/h1/app/link-to-private',
      type: 'symlink',
      target: '../private',
      pathBytes: null,
      targetBytes: null,
      attrs: ATTRS,
    };
    await rt.backups.transaction(async (tx) => {
      await rt.backups.saveSnapshot(
        tx,
        backup.id,
        [
          file('srv/h1/app/a.txt'),
          file('srv/h1/app/link-to-private/private-notes.txt'),
          file('environment.config'),
        ],
        [{ path: '/srv/h1/app/tmp', reason: 'excluded by default rule temp: tmp/' }],
        [link],
      );
      await rt.backups.refresh(backup.id, tx);
    });
    const daily = await rt.backups.create({
      request: { host: HOST, kind: 'daily', paths: ['/srv'] },
      targets: [],
      dailyRetentionDays: 30,
    });
    ids.daily = daily.backup.id;
  });

  it('shows only entries whose real path lies under its prefixes, and says how many it hides', async () => {
    const res = await read(ids.inScope, tokens.deployer);
    expect(res.statusCode, res.body).toBe(200);
    const view = res.json();
    expect(view.files.map((f: { path: string }) => f.path)).toEqual(['srv/h1/app/a.txt']);
    expect(Object.keys(view.metadata.files)).toEqual(['srv/h1/app/a.txt']);
    expect(view.skipped).toEqual([
      { path: '/srv/h1/app/tmp', reason: 'excluded by default rule temp: tmp/' },
    ]);
    expect(view.hidden).toMatchObject({ files: 2, skipped: 0 });
    expect(JSON.stringify(view)).not.toContain('private-notes');
    // Admin and read tokens see the whole backup.
    const full = (await read(ids.inScope, ADMIN)).json();
    expect(full.files).toHaveLength(3);
    expect(full.hidden).toBeUndefined();
  });

  it('refuses (403) a backup of paths outside its prefixes, even on its own host', async () => {
    const res = await read(ids.daily, tokens.deployer);
    expect(res.statusCode).toBe(403);
    expect(res.json().message).toMatch(
      /may not read h1\/\d{8}: it backs up \/srv, outside the token's path prefixes \(\/srv\/h1\/app\)/,
    );
    expect((await read(ids.daily, ADMIN)).statusCode).toBe(200);
  });
});

describe('realPath: where a recorded path really leads, through the symlinks a backup recorded', () => {
  const link = (p: string, target: string): [string, TreeNode] => [
    p,
    { path: p, type: 'symlink', target, pathBytes: null, targetBytes: null, attrs: ATTRS },
  ];

  it('follows relative and absolute targets at any depth, and chains of them', () => {
    const links = new Map([
      link('srv/app/up', '../private'),
      link('srv/app/abs', '/etc'),
      link('srv/private/again', '/srv/app/up'),
    ]);
    expect(realPath('/srv/app/up/notes.txt', links)).toBe('/srv/private/notes.txt');
    expect(realPath('/srv/app/abs/passwd', links)).toBe('/etc/passwd');
    expect(realPath('/srv/app/up/again/x', links)).toBe('/srv/private/x');
    expect(realPath('/srv/app/plain/x', links)).toBe('/srv/app/plain/x');
  });

  it('ends a loop at "/", which lies under no prefix but "/"', () => {
    const links = new Map([link('a/b', '/a/c'), link('a/c', '/a/b')]);
    expect(realPath('/a/b/x', links)).toBe('/');
  });
});
