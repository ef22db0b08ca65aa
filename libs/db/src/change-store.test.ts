import { ManualClock, preChangeEntrySchema } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupStore } from './backup-store.ts';
import { ChangeStore } from './change-store.ts';
import { HostStore } from './host-store.ts';
import { upgradeRetention } from './retention.ts';

const services = await serviceUrls();
const targets = [{ name: 'second', kind: 'fs', offsite: false }];
const ID = '0b7f3c2a-8d51-4e0a-9c1f-5a6b7c8d9e01';

describe.skipIf(!services)('ChangeStore', () => {
  let env: Isolated;
  let store: BackupStore;
  let changes: ChangeStore;
  const clock = new ManualClock('2026-06-01T09:30:00Z');
  const preChange = (ticket: string, extra: Record<string, unknown> = {}) =>
    store.create({
      request: {
        host: 'db-01',
        kind: 'pre_change',
        paths: ['/srv/db'],
        description: 'Before v2',
        ticket,
        ...extra,
      },
      targets,
      dailyRetentionDays: 30,
    });

  beforeAll(async () => {
    env = await isolate(services!, 'changes');
    store = new BackupStore(env.pool, clock);
    changes = new ChangeStore(store, clock);
    await new HostStore(env.pool, clock).touch('db-01');
  });
  afterAll(() => env?.cleanup());

  it('creates with a caller-chosen id once, however often it is asked', async () => {
    const req = {
      id: ID,
      request: {
        host: 'db-01',
        kind: 'pre_change' as const,
        paths: ['/srv'],
        description: 'Retry me',
        ticket: 'T-0',
      },
      targets,
      dailyRetentionDays: 30,
    };
    const [a, b] = await Promise.all([store.create(req), store.create(req)]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.backup.id).toBe(ID);
    expect(b.backup.key).toBe('20260601_0930_retry-me');
    await expect(
      store.create({ ...req, request: { ...req.request, kind: 'manual', purpose: 'x' } }),
    ).rejects.toThrow(/already taken/);
  });

  it('verifies a change: seed status, verified_by and verified_date from the clock, once', async () => {
    const { backup } = await preChange('CHG-1');
    expect(backup.entry).toMatchObject({
      status: 'pending_verification',
      verified_by: null,
      change_ticket: 'CHG-1',
    });
    clock.advance(3_600_000);
    const report = await changes.verify({ ticket: 'CHG-1', actor: 'alice', via: 'cli' });
    expect(report.changed).toEqual([backup.id]);
    const entry = preChangeEntrySchema.parse(report.backups[0]?.entry);
    expect(entry).toMatchObject({
      status: 'verified',
      verified_by: 'alice',
      verified_date: '2026-06-01T10:30:00.000Z',
    });
    clock.advance(60_000);
    const again = await changes.verify({ ticket: 'CHG-1', actor: 'bob', via: 'cli' });
    expect(again.changed).toEqual([]);
    expect(again.backups[0]?.entry).toMatchObject({ verified_by: 'alice' });
    expect((await changes.events('CHG-1')).map((e) => [e.event, e.actor])).toEqual([
      ['verified', 'alice'],
      ['verified', 'bob'],
    ]);
  });

  it('records a failed change and keeps (or puts back) the backup in pending_verification', async () => {
    const { backup } = await preChange('CHG-2');
    const failed = await changes.fail({
      ticket: 'CHG-2',
      actor: 'deployer',
      via: 'token deployer',
      reason: 'rollback',
    });
    expect(failed.changed).toEqual([]);
    expect(failed.backups[0]?.entry).toMatchObject({ status: 'pending_verification' });
    clock.advance(1000);
    await changes.verify({ ticket: 'CHG-2', actor: 'alice', via: 'cli' });
    clock.advance(1000);
    const reverted = await changes.fail({
      ticket: 'CHG-2',
      actor: 'alice',
      via: 'cli',
      reason: 'regression found',
    });
    expect(reverted.changed).toEqual([backup.id]);
    expect(reverted.backups[0]?.entry).toMatchObject({
      status: 'pending_verification',
      verified_by: null,
      verified_date: null,
    });
    const events = await changes.events('CHG-2');
    expect(events.map((e) => [e.event, e.reason])).toEqual([
      ['failed', 'rollback'],
      ['verified', null],
      ['failed', 'regression found'],
    ]);
  });

  it('changes nothing when a check refuses one of the backups, and 404s an unknown ticket', async () => {
    await preChange('CHG-3');
    await expect(
      changes.verify({
        ticket: 'CHG-3',
        actor: 'mallory',
        via: 'token x',
        check: () => {
          throw new Error('out of scope');
        },
      }),
    ).rejects.toThrow('out of scope');
    expect(await changes.events('CHG-3')).toEqual([]);
    await expect(changes.verify({ ticket: 'nope', actor: 'a', via: 'cli' })).rejects.toThrow(
      /no pre-change backup/,
    );
  });

  it('upgrades a retention left unset, never one the caller chose', async () => {
    const unset = (await preChange('CHG-4')).backup;
    const chosen = (await preChange('CHG-5', { retention: 'days_3' })).backup;
    await store.transaction(async (tx) => {
      await upgradeRetention(tx, unset.id, 'permanent');
      await upgradeRetention(tx, chosen.id, 'permanent');
      await store.refresh(unset.id, tx);
      await store.refresh(chosen.id, tx);
    });
    expect((await store.require(unset.id)).entry).toMatchObject({ retention: 'permanent' });
    expect((await store.require(chosen.id)).entry).toMatchObject({ retention: 'days_3' });
  });
});
