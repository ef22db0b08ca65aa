import { loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { LOCAL_COPY, ManualClock, preChangeEntrySchema } from '@fleet-backup/core';
import { ChangeStore } from '@fleet-backup/db';
import { hostQueueName, urgentQueueName } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildServer } from './server.ts';

const services = await serviceUrls();
const TOKEN = 'test-admin-token';
const headers = { authorization: `Bearer ${TOKEN}` };
const body = (ticket: string, extra: Record<string, unknown> = {}) => ({
  host: 'db-01',
  paths: ['/srv/db'],
  description: 'Before schema v2!',
  change_ticket: ticket,
  ...extra,
});

describe.skipIf(!services)('pre-change API: intake, safe, change verified or failed', () => {
  let iso: Isolated;
  let rt: Runtime;
  let app: FastifyInstance;
  const clock = new ManualClock('2026-06-01T09:30:12Z');
  const post = (url: string, payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url, headers, payload });
  const get = async (id: string) => (await app.inject({ url: `/v1/backups/${id}`, headers })).json();

  beforeAll(async () => {
    iso = await isolate(services!, 'prechange-api');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
    });
    rt = await openRuntime(
      {
        ...config,
        targets: [
          { name: 'second', url: `file://${iso.dir}`, options: {} },
          { name: 'vault', url: `file://${iso.dir}`, offsite: true, options: {} },
        ],
      },
      { name: 'test', clock, log: capturedLog('test').log },
    );
    await rt.hosts.touch('db-01');
    app = (await buildServer(rt, { token: TOKEN })).app;
  });
  afterAll(async () => {
    await app?.close();
    await rt?.close();
    await iso?.cleanup();
  });

  it('answers 202 with the id at once, keys YYYYMMDD_HHMM_slug unique per host, and enqueues the snapshot', async () => {
    const first = await post('/v1/pre-change', body('CHG-1'));
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({
      host: 'db-01',
      key: '20260601_0930_before-schema-v2',
      status: 'running',
    });
    const second = await post('/v1/pre-change', body('CHG-1b'));
    expect(second.json().key).toBe('20260601_0930_before-schema-v2-2');
    const jobs = await rt.queues.queue(urgentQueueName('db-01')).getJobs(['waiting']);
    expect(await rt.queues.queue(hostQueueName('db-01')).count()).toBe(0);
    expect(jobs.map((j) => j.id).sort()).toEqual(
      [`${first.json().id}.snapshot`, `${second.json().id}.snapshot`].sort(),
    );
    const shown = await get(first.json().id);
    expect(shown.change).toEqual({
      ticket: 'CHG-1',
      status: 'pending_verification',
      retention: 'until_verified',
      verified_by: null,
      verified_date: null,
    });
  });

  it('returns the same backup for a retried request with the id the caller chose', async () => {
    const id = '7d0c4a52-3c1e-4f7b-8a55-2f0e9b1c6d11';
    const a = await post('/v1/pre-change', body('CHG-2', { id }));
    const b = await post('/v1/pre-change', body('CHG-2', { id }));
    expect([a.statusCode, b.statusCode]).toEqual([202, 200]);
    expect(b.json()).toMatchObject({ id, created: false, key: a.json().key });
  });

  it('keeps a migration permanently unless the caller chose otherwise', async () => {
    const migration = await post('/v1/pre-change', body('CHG-3', { migration: true }));
    expect((await get(migration.json().id)).metadata).toMatchObject({ retention: 'permanent' });
    const chosen = await post('/v1/pre-change', body('CHG-4', { migration: true, retention: 'days_14' }));
    expect((await get(chosen.json().id)).metadata).toMatchObject({ retention: 'days_14' });
  });

  it('is safe only once the local copy is hashed and an offsite copy verified', async () => {
    const { id } = (await post('/v1/pre-change', body('CHG-5'))).json();
    const before = await get(id);
    expect(before).toMatchObject({
      status: 'running',
      safe: false,
      safety: { possible: true, offsite_required: 1 },
    });
    const mark = (target: string) =>
      rt.backups.transaction(async (tx) => {
        await rt.backups.setCopy(tx, id, target, 'verified', {});
        await rt.backups.refresh(id, tx);
      });
    await mark(LOCAL_COPY);
    await mark('second');
    const onsite = await get(id);
    expect(onsite).toMatchObject({ safe: false, safety: { local_hashed: true, offsite_verified: 0 } });
    expect(onsite.safety.reason).toMatch(/waiting for offsite copies/);
    await mark('vault');
    const safe = await get(id);
    expect(safe).toMatchObject({ safe: true, safety: { offsite_verified: 1 } });
    expect(safe.copies.map((c: { target: string; status: string }) => c.status)).toEqual([
      'verified',
      'verified',
      'verified',
    ]);
  });

  it('answers /v1/backups/:id/state as the full view has it, from queries that read no file row', async () => {
    const { id } = (await post('/v1/pre-change', body('CHG-6'))).json();
    const files = Array.from({ length: 20 }, (_, i) => ({
      path: `srv/db/f${i}.bak`,
      storedPath: `srv/db/f${i}.bak`,
      cls: 'general' as const,
      size: i,
      sha256: i.toString(16).padStart(64, '0'),
      hasWal: null,
    }));
    await rt.backups.transaction(async (tx) => {
      await rt.backups.saveSnapshot(tx, id, files, []);
      await rt.backups.setCopy(tx, id, LOCAL_COPY, 'verified', {});
      await rt.backups.refresh(id, tx);
    });
    const full = await get(id);
    expect(Object.keys(full.metadata.files)).toHaveLength(20);
    const spy = vi.spyOn(rt.pool, 'query');
    const res = await app.inject({ url: `/v1/backups/${id}/state`, headers });
    const sql = spy.mock.calls.map(([q]) => String(typeof q === 'string' ? q : (q as { text: string }).text));
    spy.mockRestore();
    expect(res.statusCode).toBe(200);
    const { id: _id, host, kind, key, status, missing, stages, copies, safe, safety, change } = full;
    expect(res.json()).toEqual({
      id,
      host,
      kind,
      key,
      status,
      missing,
      stages,
      copies,
      safe,
      safety,
      change,
    });
    expect(sql.join('\n')).not.toMatch(/backup_files/);
    const missingBackup = await app.inject({
      url: '/v1/backups/00000000-0000-4000-8000-000000000000/state',
      headers,
    });
    expect(missingBackup.statusCode).toBe(404);
  });

  it('records a verified change in the seed entry with who and when (the injected clock)', async () => {
    clock.advance(2 * 3_600_000);
    const res = await post('/v1/changes/CHG-1/verify', { verified_by: 'alice' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      ticket: 'CHG-1',
      event: 'verified',
      backups: [{ change_status: 'verified', changed: true }],
    });
    const shown = await get(res.json().backups[0].id);
    expect(preChangeEntrySchema.parse(shown.metadata)).toMatchObject({
      status: 'verified',
      verified_by: 'alice',
      verified_date: '2026-06-01T11:30:12.000Z',
      change_ticket: 'CHG-1',
    });
    expect((await post('/v1/changes/CHG-1/verify', { verified_by: 'bob' })).json().backups[0]).toMatchObject({
      verified_by: 'alice',
      changed: false,
    });
  });

  it('records a failed change, keeps the backup pending and names the one restore command', async () => {
    const res = await post(`/v1/changes/${encodeURIComponent('CHG-1b')}/fail`, {
      reported_by: 'deploy-bot',
      reason: 'migration broke logins',
    });
    expect(res.statusCode).toBe(200);
    const [backup] = res.json().backups;
    expect(backup).toMatchObject({
      change_status: 'pending_verification',
      key: '20260601_0930_before-schema-v2-2',
    });
    expect(backup.restore.command).toBe(`fleet-backup restore ${backup.id} --to / --from auto --force`);
    expect(res.json().restore_commands).toEqual([backup.restore.command]);
    const events = await new ChangeStore(rt.backups, rt.clock).events('CHG-1b');
    expect(events).toMatchObject([
      { event: 'failed', actor: 'deploy-bot', reason: 'migration broke logins', via: 'api:API_TOKEN' },
    ]);
  });

  it('answers 404 for an unknown ticket and 400 for a report without its fields', async () => {
    expect((await post('/v1/changes/NOPE/verify', { verified_by: 'alice' })).statusCode).toBe(404);
    const bad = await post('/v1/changes/CHG-1/fail', { reported_by: 'alice' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/reason/);
  });
});
