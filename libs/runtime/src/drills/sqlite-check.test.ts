import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSqliteFile, sqliteIntegrityProblem } from './sqlite-check.ts';

describe('SQLite checks of restored files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fb-drill-sqlite-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const makeDb = (name: string): string => {
    const file = path.join(dir, name);
    const db = new DatabaseSync(file);
    db.exec(
      'PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t_v ON t (v)',
    );
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    db.exec('BEGIN');
    for (let i = 0; i < 2000; i++) insert.run(`value ${i} ${'x'.repeat(40)}`);
    db.exec('COMMIT');
    // Everything into the main file: a restored copy comes without the application's -wal.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
    return file;
  };

  it('passes a sound database, read-only, in WAL mode without its -wal', async () => {
    const file = makeDb('good.db');
    await rm(`${file}-wal`, { force: true });
    await rm(`${file}-shm`, { force: true });
    expect(await isSqliteFile(file)).toBe(true);
    expect(await sqliteIntegrityProblem(file)).toBeNull();
  });

  it('reports what integrity_check finds in a damaged database', async () => {
    const file = makeDb('bad.db');
    // Wreck one b-tree page in the middle of the file (page 1 stays intact, so it still opens).
    const handle = await open(file, 'r+');
    const { size } = await handle.stat();
    const page = 4096;
    await handle.write(Buffer.alloc(page, 0xa5), 0, page, Math.floor(size / page / 2) * page);
    await handle.close();
    expect(await sqliteIntegrityProblem(file)).toMatch(/^(integrity_check: |SQLite cannot open it)/);
  });

  it('tells SQLite files from others by their header, not their name', async () => {
    const plain = path.join(dir, 'notes.db');
    await writeFile(plain, 'not a database at all');
    expect(await isSqliteFile(plain)).toBe(false);
    const empty = path.join(dir, 'empty.db');
    await writeFile(empty, '');
    expect(await isSqliteFile(empty)).toBe(false);
  });
});
