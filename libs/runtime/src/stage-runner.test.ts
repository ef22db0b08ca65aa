import { loadConfig } from '@fleet-backup/config';
import { backupProgress, type Queryable } from '@fleet-backup/db';
import { hostQueueName, urgentQueueName } from '@fleet-backup/queue';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reconcile } from './reconcile.ts';
import { openRuntime, type Runtime } from './runtime.ts';
import { recordStageFailure, runStage, type StageSpec } from './stage-runner.ts';

const services = await serviceUrls();
const HOST = 'runner-01';
const FILES = 50;
const ctx = { signal: new AbortController().signal, log: pino({ level: 'silent' }) };

const rows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    path: `/srv/f${i}.bak`,
    storedPath: `srv/f${i}.bak`,
    cls: 'general' as const,
    size: 10 + i,
    sha256: i.toString(16).padStart(64, '0'),
    hasWal: null,
  }));

/** The SQL texts a pool runs while fn runs. */
async function queriesDuring(q: Queryable, fn: () => Promise<unknown>): Promise<string[]> {
  const spy = vi.spyOn(q, 'query');
  try {
    await fn();
    return spy.mock.calls.map(([text]) =>
      typeof text === 'string' ? text : String((text as { text?: string }).text),
    );
  } finally {
    spy.mockRestore();
  }
}

describe.skipIf(!services)('runStage: one stage protocol', () => {
  let iso: Isolated;
  let rt: Runtime;

  const newBackup = async (kind: 'daily' | 'manual' | 'pre_change' = 'manual') => {
    const extra =
      kind === 'manual'
        ? { purpose: 'runner test', retention: 'permanent' }
        : kind === 'pre_change'
          ? {}
          : {};
    const { backup } = await rt.backups.create({
      request: { host: HOST, kind, paths: ['/srv'], description: `t${Math.random()}`, ...extra } as never,
      targets: [{ name: 'second', kind: 'fs', offsite: false }],
      dailyRetentionDays: 30,
    });
    return backup;
  };
  const stageStatus = async (id: string, stage = 'snapshot') =>
    (await rt.backups.stage(id, stage as 'snapshot'))?.status;
  const fileCount = async (id: string) =>
    Number(
      (await rt.pool.query('SELECT count(*) AS n FROM backup_files WHERE backup_id = $1', [id])).rows[0].n,
    );
  /** A snapshot stage that records `files` rows; hooks let each test look inside. */
  const spec = (over: Partial<StageSpec<{ backupId: string }, number, void>> = {}) => {
    const calls = { work: 0, afterCommit: 0 };
    const s: StageSpec<{ backupId: string }, number, void> = {
      stage: 'snapshot',
      async work() {
        calls.work++;
        return FILES;
      },
      async commit(tx, n, { backup }) {
        await rt.backups.saveSnapshot(tx, backup.id, rows(n), []);
      },
      async afterCommit() {
        calls.afterCommit++;
      },
      ...over,
    };
    return { s, calls };
  };

  beforeAll(async () => {
    iso = await isolate(services!, 'stage-runner');
    const config = loadConfig({
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
    });
    rt = await openRuntime(
      { ...config, targets: [{ name: 'second', url: `file://${iso.dir}`, options: {} }] },
      { name: 'test', log: pino({ level: 'silent' }) },
    );
    await rt.hosts.touch(HOST);
  });
  afterAll(async () => {
    await rt?.close();
    await iso?.cleanup();
  });

  it('claims a stage once: a second delivery does no work and still advances', async () => {
    const backup = await newBackup();
    const { s, calls } = spec();
    expect(await runStage(rt, s, { backupId: backup.id }, ctx)).toBe('ran');
    expect(await runStage(rt, s, { backupId: backup.id }, ctx)).toBe('done');
    expect(calls).toEqual({ work: 1, afterCommit: 1 });
    expect(await stageStatus(backup.id)).toBe('done');
    expect(await fileCount(backup.id)).toBe(FILES);
    // Both deliveries advanced: the hash job is there (once, by its id).
    expect(await rt.queues.queue(hostQueueName(HOST)).getJob(`${backup.id}.hash`)).toBeDefined();
  });

  it('commits the result and the end of the stage in one transaction, and runs after-commit work only after it', async () => {
    const backup = await newBackup();
    const broken = spec({
      async commit(tx, n, { backup: b }) {
        await rt.backups.saveSnapshot(tx, b.id, rows(n), []);
        throw new Error('commit cut off');
      },
    });
    await expect(runStage(rt, broken.s, { backupId: backup.id }, ctx)).rejects.toThrow('commit cut off');
    // Nothing of the half-done commit is left, the stage is still open, and no after-commit work ran.
    expect(await fileCount(backup.id)).toBe(0);
    expect(await stageStatus(backup.id)).toBe('running');
    expect(broken.calls.afterCommit).toBe(0);

    const seen: unknown[] = [];
    const good = spec({
      async afterCommit() {
        // From another connection: the commit is durable by now.
        seen.push(await stageStatus(backup.id), await fileCount(backup.id));
      },
    });
    expect(await runStage(rt, good.s, { backupId: backup.id }, ctx)).toBe('ran');
    expect(seen).toEqual(['done', FILES]);
  });

  it('lets the stage refuse a backup before claiming it', async () => {
    const backup = await newBackup();
    const { s, calls } = spec({
      accept: () => {
        throw new Error('not this host');
      },
    });
    await expect(runStage(rt, s, { backupId: backup.id }, ctx)).rejects.toThrow('not this host');
    expect(calls.work).toBe(0);
    expect(await stageStatus(backup.id)).toBe('pending');
  });

  it('records failures: retrying ones as an error, final ones failing the backup, other jobs ignored', async () => {
    const backup = await newBackup();
    const { s } = spec({
      async work() {
        throw new Error('disk gone');
      },
    });
    const error = await runStage(rt, s, { backupId: backup.id }, ctx).then(
      () => new Error('the stage should have failed'),
      (e: Error) => e,
    );
    const report = { name: 'snapshot' as const, data: { backupId: backup.id, host: HOST }, error };
    await recordStageFailure(rt.backups, { ...report, final: false });
    expect(await rt.backups.stage(backup.id, 'snapshot')).toMatchObject({
      status: 'running',
      error: 'disk gone (will retry)',
    });
    await recordStageFailure(rt.backups, { ...report, name: 'expire-local', final: true });
    expect((await rt.backups.require(backup.id)).status).toBe('running');
    await recordStageFailure(rt.backups, { ...report, final: true });
    expect(await rt.backups.stage(backup.id, 'snapshot')).toMatchObject({
      status: 'failed',
      error: 'disk gone',
    });
    expect((await rt.backups.require(backup.id)).status).toBe('failed');
  });

  it('advances with one query over the stages, never a file row', async () => {
    const backup = await newBackup();
    await runStage(rt, spec().s, { backupId: backup.id }, ctx);
    expect(await fileCount(backup.id)).toBe(FILES);
    const sql = await queriesDuring(rt.pool, () => rt.advance(backup.id));
    expect(sql).toHaveLength(1);
    expect(sql.join('\n')).not.toMatch(/backup_files/);
  });

  it('a --wait poll reads status, stages and copies in one query, never a file row', async () => {
    const backup = await newBackup();
    await runStage(rt, spec().s, { backupId: backup.id }, ctx);
    let progress: Awaited<ReturnType<typeof backupProgress>> = null;
    const sql = await queriesDuring(rt.pool, async () => {
      progress = await backupProgress(rt.pool, backup.id);
    });
    expect(sql).toHaveLength(1);
    expect(sql.join('\n')).not.toMatch(/backup_files/);
    expect(progress).toMatchObject({
      backup: { id: backup.id, status: 'running', missing: [] },
      stages: [
        { stage: 'snapshot', status: 'done' },
        { stage: 'hash', status: 'pending' },
        { stage: 'replicate', target: 'second' },
        { stage: 'verify', target: 'second' },
      ],
      copies: [{ target: 'local' }, { target: 'second' }],
    });
  });

  it("puts a pre-change's stage jobs on the agent's urgent lane", async () => {
    const backup = await newBackup('pre_change');
    await rt.advance(backup.id);
    expect(await rt.queues.queue(urgentQueueName(HOST)).getJob(`${backup.id}.snapshot`)).toMatchObject({
      data: { backupId: backup.id, host: HOST, lane: 'urgent' },
    });
    expect(await rt.queues.queue(hostQueueName(HOST)).getJob(`${backup.id}.snapshot`)).toBeUndefined();
  });

  it('rebuilds a lost pre-change job on the urgent lane, reading stages only', async () => {
    const backup = await newBackup('pre_change');
    const sql = await queriesDuring(rt.pool, () => reconcile(rt));
    expect(sql.join('\n')).not.toMatch(/backup_files/);
    expect(await rt.queues.queue(urgentQueueName(HOST)).getJob(`${backup.id}.snapshot`)).toBeDefined();
    // Found where it was put: a second pass adds nothing.
    expect((await reconcile(rt)).enqueued).toBe(0);
  });
});
