import { randomUUID } from 'node:crypto';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillStore } from './drill-store.ts';

const services = await serviceUrls();
const T0 = new Date('2026-05-01T04:00:00Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

describe.skipIf(!services)('DrillStore', () => {
  let env: Isolated;
  let drills: DrillStore;

  beforeAll(async () => {
    env = await isolate(services!, 'drills');
    drills = new DrillStore(env.pool);
    await env.pool.query("INSERT INTO hosts (id, first_seen) VALUES ('h1', now()), ('h2', now())");
  });
  afterAll(() => env?.cleanup());

  const addBackup = async (host: string, key: string, status: string, created: Date, lifecycle?: string) => {
    const id = randomUUID();
    await env.pool.query(
      `INSERT INTO backups (id, host, kind, key, status, created_at, request, targets, entry, updated_at, lifecycle)
       VALUES ($1, $2, 'manual', $3, $4, $5, '{}', '{}', '{}', $5, $6)`,
      [id, host, key, status, created, lifecycle ?? null],
    );
    return id;
  };

  it('records a drill from start to finish and lists it newest first', async () => {
    const first = randomUUID();
    await drills.start({ id: first, host: 'h1', trigger: 'scheduled', startedAt: at(0) }, at(-360));
    expect(await drills.get(first)).toMatchObject({
      ok: null,
      backupId: null,
      target: null,
      finishedAt: null,
    });
    const backupId = await addBackup('h1', '20260501', 'verified', at(-60));
    await drills.chose(first, { backupId, backupKey: '20260501', target: 's3' });
    await drills.finish(first, {
      ok: true,
      reason: null,
      finishedAt: at(2),
      durationMs: 1234.6,
      files: 3,
      bytes: 99,
    });
    const second = randomUUID();
    await drills.start({ id: second, host: 'h1', trigger: 'manual', startedAt: at(10) }, at(-350));
    await drills.finish(second, {
      ok: false,
      reason: 'a from copy s3: sha256 mismatch',
      finishedAt: at(11),
      durationMs: 5,
      files: 0,
      bytes: 0,
    });
    const listed = await drills.list({ host: 'h1' });
    expect(listed.map((r) => r.id)).toEqual([second, first]);
    expect(listed[1]).toMatchObject({
      backupId,
      backupKey: '20260501',
      target: 's3',
      trigger: 'scheduled',
      ok: true,
      durationMs: 1235,
      files: 3,
      bytes: 99,
      finishedAt: at(2),
    });
    const [summary] = await drills.summaries();
    expect(summary).toMatchObject({ host: 'h1', lastOkAt: at(0), last: { id: second, ok: false } });
  });

  it('closes a drill left running past its timeout as interrupted when the next one starts', async () => {
    const stuck = randomUUID();
    await drills.start({ id: stuck, host: 'h2', trigger: 'scheduled', startedAt: at(0) }, at(-360));
    const recent = randomUUID();
    await drills.start({ id: recent, host: 'h2', trigger: 'manual', startedAt: at(60) }, at(-300));
    expect((await drills.get(stuck))?.ok).toBeNull();
    await drills.start({ id: randomUUID(), host: 'h2', trigger: 'manual', startedAt: at(400) }, at(40));
    expect(await drills.get(stuck)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^interrupted/),
    });
    expect((await drills.get(recent))?.ok).toBeNull();
  });

  it('finds the newest verified backup that is kept', async () => {
    await addBackup('h2', '20260401', 'verified', at(-3000));
    const newest = await addBackup('h2', '20260402', 'verified', at(-2000));
    await addBackup('h2', '20260403', 'unverified', at(-1000));
    await addBackup('h2', '20260404', 'verified', at(-500), 'expiring');
    expect(await drills.newestVerifiedBackup('h2')).toBe(newest);
    expect(await drills.newestVerifiedBackup('nobody')).toBeNull();
  });
});
