import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { EntryChanged } from '@fleet-backup/capture';
import { PermanentFailure, SQLITE_HEADER } from '@fleet-backup/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExpectedDatabase } from './sqlite-guard.ts';
import { snapshotSqlite } from './sqlite-snapshot.ts';

const signal = new AbortController().signal;

describe('snapshotSqlite', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-sqlite-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('says a file without the SQLite header is not SQLite', async () => {
    await writeFile(path.join(dir, 'x.db'), 'plain text');
    expect(await snapshotSqlite(path.join(dir, 'x.db'), path.join(dir, 'out'), signal)).toEqual({
      kind: 'not-sqlite',
      reason: 'named like a database but has no SQLite header',
    });
  });

  it('says a file with the header that SQLite cannot read is not SQLite, leaving no temporary file', async () => {
    await writeFile(path.join(dir, 'x.db'), Buffer.concat([SQLITE_HEADER, Buffer.alloc(4080, 1)]));
    const out = path.join(dir, 'out');
    const r = await snapshotSqlite(path.join(dir, 'x.db'), out, signal);
    expect(r).toMatchObject({ kind: 'not-sqlite', reason: expect.stringMatching(/SQLite cannot read it/) });
    expect(await readdir(out)).toEqual([]);
  });

  it('retries a database another process holds exclusively, then fails for good naming the file', async () => {
    const file = path.join(dir, 'busy.db');
    const holder = new DatabaseSync(file);
    holder.exec('CREATE TABLE t (x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);');
    try {
      const started = performance.now();
      const err = await snapshotSqlite(file, path.join(dir, 'out'), signal, {
        attempts: 3,
        backoffMs: 20,
        busyTimeoutMs: 20,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentFailure);
      expect((err as Error).message).toContain(`database ${file} stayed locked`);
      expect(performance.now() - started).toBeGreaterThanOrEqual(60); // two backoffs: 20 + 40 ms
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
  });

  it('records has_wal only for a WAL-mode source with a -wal file, and leaves that -wal in place', async () => {
    const file = path.join(dir, 'wal.db');
    const app = new DatabaseSync(file);
    app.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES ('kept');");
    const r = await snapshotSqlite(file, path.join(dir, 'out'), signal);
    expect(r).toMatchObject({ kind: 'snapshot', hasWal: true });
    expect((await readdir(dir)).sort()).toEqual(['out', 'wal.db', 'wal.db-shm', 'wal.db-wal']);
    app.close();
    if (r.kind !== 'snapshot') return;
    const copy = new DatabaseSync(r.tempPath, { readOnly: true });
    expect(copy.prepare('SELECT x FROM t').get()).toEqual({ x: 'kept' });
    copy.close();
  });
});

describe('snapshotSqlite with the walk verification (sqlite-guard.ts)', () => {
  let dir: string;
  let db: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-sqlite-guard-'));
    db = path.join(dir, 'app.db');
    const writer = new DatabaseSync(db);
    writer.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES ('kept');");
    writer.close();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const expectFor = async (over: Partial<ExpectedDatabase> = {}): Promise<ExpectedDatabase> => {
    const { dev, ino } = await stat(db, { bigint: true });
    return { id: { dev, ino }, dir: Buffer.from(dir), name: Buffer.from('app.db'), logical: db, ...over };
  };

  it('snapshots the file the walk listed', async () => {
    const r = await snapshotSqlite(db, path.join(dir, 'out'), signal, { expect: await expectFor() });
    expect(r.kind).toBe('snapshot');
  });

  it('refuses what SQLite opened when it is not the listed file, or sits in another directory', async () => {
    for (const over of [{ id: { dev: 0n, ino: 0n } }, { dir: Buffer.from(path.join(dir, 'elsewhere')) }]) {
      const err = await snapshotSqlite(db, path.join(dir, 'out'), signal, {
        expect: await expectFor(over),
      }).catch((e) => e);
      expect(err).toBeInstanceOf(EntryChanged);
      expect(err.message).toMatch(
        /^changed during the backup: SQLite (opened another file|reached it through)/,
      );
    }
    expect(await readdir(path.join(dir, 'out'))).toEqual([]);
  });
});
