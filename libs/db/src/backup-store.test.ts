import { hostMetadataSchema, ManualClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupStore } from './backup-store.ts';
import { HostStore } from './host-store.ts';
import { hostMetadata } from './metadata-export.ts';
import { migrate } from './migrate.ts';

const services = await serviceUrls();
const targets = [{ name: 'second', kind: 'fs', offsite: false }];

describe.skipIf(!services)('BackupStore', () => {
  let env: Isolated;
  let store: BackupStore;
  const clock = new ManualClock('2026-05-01T02:03:04Z');

  beforeAll(async () => {
    env = await isolate(services!, 'store');
    store = new BackupStore(env.pool, clock);
    await new HostStore(env.pool, clock).touch('web-01');
  });
  afterAll(() => env?.cleanup());

  it('migrates idempotently', async () => {
    expect(await migrate(env.pool)).toEqual([]);
  });

  it('refuses an unknown host', async () => {
    await expect(
      store.create({
        request: { host: 'nope', kind: 'daily', paths: ['/srv'] },
        targets,
        dailyRetentionDays: 30,
      }),
    ).rejects.toThrow(/unknown host nope/);
  });

  it('creates at most one daily per host and day', async () => {
    const req = {
      request: { host: 'web-01', kind: 'daily' as const, paths: ['/srv'] },
      targets,
      dailyRetentionDays: 30,
    };
    const [a, b] = await Promise.all([store.create(req), store.create(req)]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(a.backup.id).toBe(b.backup.id);
    expect(a.backup.key).toBe('20260501');
    expect(a.backup.expiresAt?.toISOString()).toBe('2026-05-31T02:03:04.000Z');
  });

  it('gives event backups in the same minute distinct keys', async () => {
    const req = {
      request: {
        host: 'web-01',
        kind: 'manual' as const,
        paths: ['/srv'],
        purpose: 'audit',
        description: 'Before upgrade',
      },
      targets,
      dailyRetentionDays: 30,
    };
    const a = await store.create(req);
    const b = await store.create(req);
    expect(a.backup.key).toBe('20260501_0203_before-upgrade');
    expect(b.backup.key).toBe('20260501_0203_before-upgrade-2');
  });

  it('moves through stages, skips finished ones, and keeps the JSONB mirror in step', async () => {
    clock.advance(86_400_000);
    const { backup } = await store.create({
      request: { host: 'web-01', kind: 'daily', paths: ['/srv'] },
      targets,
      dailyRetentionDays: 30,
    });
    expect(await store.startStage(backup.id, 'snapshot')).toBe('started');
    await store.transaction(async (tx) => {
      await store.saveSnapshot(
        tx,
        backup.id,
        [
          {
            path: 'srv/a.db',
            storedPath: 'srv/a.db',
            cls: 'database',
            size: 1,
            sha256: 'c'.repeat(64),
            hasWal: false,
          },
        ],
        [],
      );
      await store.finishStage(tx, backup.id, 'snapshot');
    });
    expect(await store.startStage(backup.id, 'snapshot')).toBe('done');
    const doc = hostMetadataSchema.parse(await hostMetadata(env.pool, 'web-01'));
    expect(doc.daily['20260502']?.files['srv/a.db']).toEqual({
      size: 1,
      hash: 'c'.repeat(64),
      has_wal: false,
    });
    expect(doc.daily['20260502']?.verified).toBe(false);

    await store.failStage(backup.id, 'hash', '', 'disk on fire', true);
    expect((await store.require(backup.id)).status).toBe('failed');
    // An operator's retry revives it.
    expect(await store.startStage(backup.id, 'hash')).toBe('started');
    expect((await store.require(backup.id)).status).toBe('running');
  });

  it('lists stored files as detail() does, with an encrypted file under its ciphertext', async () => {
    clock.advance(86_400_000);
    const { backup } = await store.create({
      request: {
        host: 'web-01',
        kind: 'manual',
        paths: ['/srv'],
        purpose: 'stored files',
        retention: 'days_1',
      },
      targets,
      dailyRetentionDays: 30,
    });
    const plain = { path: 'srv/b.conf', storedPath: 'srv/b.conf.config', cls: 'config' as const };
    const sealed = { path: 'srv/a.env', storedPath: 'srv/a.env.config', cls: 'config' as const }; // stored encrypted
    await store.transaction((tx) =>
      store.saveSnapshot(
        tx,
        backup.id,
        [
          { ...plain, size: 3, sha256: 'a'.repeat(64), hasWal: null },
          {
            ...sealed,
            size: 5,
            sha256: 'b'.repeat(64),
            hasWal: null,
            encrypted: { sha256: 'e'.repeat(64), size: 33, keyId: 'k1' },
          },
        ],
        [],
      ),
    );
    const { files } = await store.detail(backup.id);
    expect(await store.storedFiles(backup.id)).toEqual(
      files.map(({ path, storedPath, size, sha256, encrypted }) => ({
        path,
        storedPath,
        size,
        sha256,
        encrypted,
      })),
    );
    expect((await store.storedFiles(backup.id)).map((f) => f.encrypted)).toEqual([
      { sha256: 'e'.repeat(64), size: 33, keyId: 'k1' },
      null,
    ]);
  });
});
