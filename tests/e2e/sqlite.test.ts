import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SQLITE_HEADER } from '@fleet-backup/core';
import { serviceUrls } from '@fleet-backup/testkit';
import { snapshotSqlite } from '@fleet-backup/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { checkCopy, SqliteWriter } from '../support/sqlite.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { sha256File } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'sqlite-host';

interface ShownFile {
  path: string;
  class: string;
  size: number;
  sha256: string;
  stored: string;
  has_wal?: boolean;
}
interface Shown {
  id: string;
  key: string;
  status: string;
  files: ShownFile[];
  skipped: { path: string; reason: string }[];
}

describe.skipIf(!services)(
  'SQLite databases are snapshotted through SQLite while the application writes',
  () => {
    let stack: Stack;
    const writers: SqliteWriter[] = [];

    beforeAll(async () => {
      stack = await createStack(services!, 'sqlite');
      await stack.start(['producer']);
      await stack.start(['worker']);
      await stack.start(['agent', '--host', HOST]);
    }, 120_000);
    afterAll(async () => {
      await Promise.all(writers.map((w) => w.stop()));
      await stack?.stop();
    });

    /** A manual backup of paths through the CLI, waited for, then `show --json`. */
    async function backupAndShow(description: string, paths: string[]): Promise<Shown> {
      const run = await stack.cli(manualBackup(HOST, description, paths, '--wait', '--json'));
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const { id } = JSON.parse(run.stdout) as { id: string };
      const shown = await stack.cli(['show', id, '--json']);
      return JSON.parse(shown.stdout) as Shown;
    }

    async function restore(id: string, to: string): Promise<void> {
      const run = await stack.cli(['restore', id, '--to', to, '--json']);
      expect(run.code, run.stderr).toBe(0);
    }

    it.each(['wal', 'delete'] as const)(
      '%s mode: 20 snapshots under live writes are whole, and CLI backups restore to sound databases',
      async (mode) => {
        const dir = path.join(stack.iso.dir, `live-${mode}`);
        await mkdir(dir, { recursive: true });
        const db = path.join(dir, 'app.db');
        const writer = new SqliteWriter(db, mode);
        writers.push(writer);
        await writer.ready();
        const scratch = path.join(stack.iso.dir, `snaps-${mode}`);
        let previous = 0;
        for (let i = 0; i < 20; i++) {
          const before = writer.committed;
          const taken = await snapshotSqlite(db, scratch, new AbortController().signal);
          if (taken.kind !== 'snapshot') throw new Error(`not snapshotted: ${taken.reason}`);
          expect(taken.hasWal).toBe(mode === 'wal');
          expect(await sha256File(taken.tempPath)).toBe(taken.sha256);
          const c = checkCopy(taken.tempPath);
          expect(c.integrity).toBe('ok');
          expect(c.max).toBe(c.count); // a gap-free prefix of the counter
          expect(c.tally).toBe(c.count); // the tally row and the rows come from the same commits
          expect(c.partialBatches).toBe(0); // no transaction half-applied
          expect(c.count).toBeGreaterThanOrEqual(before); // every commit made before the snapshot
          expect(c.count).toBeGreaterThanOrEqual(previous);
          previous = c.count;
        }
        expect(previous, 'the writer kept committing during the snapshots').toBeGreaterThan(3000);

        for (let i = 0; i < 2; i++) {
          const before = writer.committed;
          const shown = await backupAndShow(`${mode} live ${i}`, [db]);
          expect(shown.status).toBe('verified');
          const file = shown.files.find((f) => f.path === db.slice(1));
          expect(file?.class).toBe('database');
          expect(file?.has_wal).toBe(mode === 'wal');
          // What is recorded is the snapshot copy that is stored, not the live file.
          const stored = path.join(stack.backupRoot, shown.key, file?.stored ?? '');
          expect(await sha256File(stored)).toBe(file?.sha256);
          if (mode === 'wal') {
            // The live -wal / -shm are not copied raw beside the snapshot; the backup says why.
            expect(shown.skipped.map((s) => s.path)).toEqual(expect.arrayContaining([`${db}-wal`]));
            expect(shown.files.map((f) => f.path)).toEqual([db.slice(1)]);
          }
          const to = path.join(stack.iso.dir, `restore-${mode}-${i}`);
          await restore(shown.id, to);
          const c = checkCopy(path.join(to, db.slice(1)));
          expect(c).toMatchObject({ integrity: 'ok', partialBatches: 0 });
          expect(c.max).toBe(c.count);
          expect(c.tally).toBe(c.count);
          expect(c.count).toBeGreaterThanOrEqual(before);
        }
        await writer.stop();
      },
      120_000,
    );

    it('copies a .db that is not SQLite, or that SQLite cannot read, as a plain file and says so', async () => {
      const dir = path.join(stack.iso.dir, 'odd');
      await mkdir(dir, { recursive: true });
      const plain = path.join(dir, 'notes.db');
      const fake = path.join(dir, 'fake.db');
      await writeFile(plain, 'just text named .db\n');
      await writeFile(fake, Buffer.concat([SQLITE_HEADER, Buffer.alloc(4080, 7)]));
      const shown = await backupAndShow('odd dbs', [dir]);
      expect(shown.status).toBe('verified');
      for (const f of [plain, fake]) {
        const row = shown.files.find((r) => r.path === f.slice(1));
        expect(row?.sha256).toBe(await sha256File(f));
        expect(shown.skipped.find((s) => s.path === f)?.reason).toMatch(
          /^copied as a plain file, not through SQLite/,
        );
      }
      const to = path.join(stack.iso.dir, 'restore-odd');
      await restore(shown.id, to);
      for (const f of [plain, fake]) {
        expect((await readFile(path.join(to, f.slice(1)))).equals(await readFile(f))).toBe(true);
      }
      const text = await stack.cli(['show', shown.id]);
      expect(text.stdout).toMatch(/note .*notes\.db: copied as a plain file/);
    });
  },
);
