import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool } from '@fleet-backup/db';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { fileOf, type ShownBackup, show, waitVerified } from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'incr-host';

describe.skipIf(!services)(
  'incremental snapshots: unchanged files hardlinked, changed ones read again',
  () => {
    let stack: Stack;
    let agent: RoleProcess;
    let base: string | undefined;
    let source: string;
    const src = (name: string) => path.join(source, name);
    const stored = (b: ShownBackup, name: string) =>
      path.join(stack.backupRoot, b.key, fileOf(b, name).stored);

    const backup = async (description: string, ...flags: string[]): Promise<ShownBackup> => {
      const run = await stack.cli([
        ...manualBackup(HOST, description, [source], ...flags),
        '--json',
        '--wait',
      ]);
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const shown = await show(stack, JSON.parse(run.stdout).id);
      expect(shown.status).toBe('verified');
      return shown;
    };

    beforeAll(async () => {
      base = await mkdtemp(path.join(os.tmpdir(), 'fbt-incremental-'));
      source = path.join(base, 'src');
      await mkdir(source, { recursive: true });
      for (const name of ['same.txt', 'ctime.txt', 'renamed.txt', 'rewritten.txt', 'kept.txt'])
        await writeFile(src(name), `${name} ${randomBytes(1024).toString('hex')}\n`);
      stack = await createStack(services!, 'incremental', {
        hosts: { [HOST]: { sources: [{ path: source }] } },
      });
      await stack.start(['producer']);
      await stack.start(['worker']);
      agent = await stack.start(['agent', '--host', HOST]);
    }, 120_000);
    afterAll(async () => {
      await stack?.stop();
      if (base) await rm(base, { recursive: true, force: true });
    });

    let first: ShownBackup;
    let second: ShownBackup;

    it('links unchanged files and re-reads every changed one, however it changed', async () => {
      first = await backup('first');
      for (const f of first.files)
        expect((await stat(stored(first, path.basename(f.path)))).mode & 0o777).toBe(0o444);

      // Same size, mtime put back (`touch -d`): only ctime tells.
      const ctime = src('ctime.txt');
      const before = await stat(ctime);
      const old = await readFile(ctime);
      const changed = Buffer.from(old);
      changed[0] = changed[0] === 0x41 ? 0x42 : 0x41;
      await writeFile(ctime, changed);
      await utimes(ctime, before.atime, before.mtime);
      // Replaced by rename: a new inode, same name, same size.
      const renamed = await readFile(src('renamed.txt'));
      await writeFile(src('renamed.tmp'), Buffer.from(renamed.toString().toUpperCase()));
      await rename(src('renamed.tmp'), src('renamed.txt'));
      // Truncated and rewritten at once (same second), same size.
      const rewritten = await readFile(src('rewritten.txt'));
      const h = await open(src('rewritten.txt'), 'r+');
      await h.truncate(0);
      await h.write(
        Buffer.from(rewritten.toString().replace('rewritten', 'REWRITTEN')),
        0,
        rewritten.length,
        0,
      );
      await h.close();

      second = await backup('second');
      // Only the newest verified backup of the series is linked from: the older source index is gone.
      const indexOf = (b: ShownBackup) => path.join(stack.backupRoot, '.fleet-backup', 'index', b.key);
      await expect(stat(indexOf(second))).resolves.toBeTruthy();
      await expect(stat(indexOf(first))).rejects.toThrow(/ENOENT/);
      const ino = async (b: ShownBackup, name: string) => (await stat(stored(b, name))).ino;
      for (const name of ['same.txt', 'kept.txt']) {
        expect(await ino(second, name), name).toBe(await ino(first, name));
        expect(fileOf(second, name).sha256).toBe(fileOf(first, name).sha256);
      }
      for (const name of ['ctime.txt', 'renamed.txt', 'rewritten.txt']) {
        expect(await ino(second, name), name).not.toBe(await ino(first, name));
        expect(await readFile(stored(second, name)), name).toEqual(await readFile(src(name)));
        expect(fileOf(second, name).sha256).not.toBe(fileOf(first, name).sha256);
        expect(await readFile(stored(first, name)), name).not.toEqual(await readFile(src(name)));
      }
      expect(agent.log).toMatch(/"linked":2,"copied":3/);
    }, 180_000);

    it('a hardlinked copy altered in place takes every backup holding it out of verified', async () => {
      const shared = stored(second, 'same.txt');
      const bytes = await readFile(shared);
      bytes[0] = bytes[0] === 0x41 ? 0x42 : 0x41;
      // Stored copies are read-only: it takes a chmod (or root) to edit one.
      await writeFile(shared, bytes);
      const run = await stack.cli(['verify', second.id, '--target', 'local', '--json']);
      expect(run.code).not.toBe(0);
      const pool = createPool(stack.env.DATABASE_URL!, 1);
      try {
        const found = await pool.query<{ backup_id: string }>(
          "SELECT DISTINCT backup_id FROM rot_findings WHERE copy = 'local'",
        );
        expect(found.rows.map((r) => r.backup_id).sort()).toEqual([first.id, second.id].sort());
      } finally {
        await pool.end();
      }
    }, 180_000);

    it('--full-check reads every stored copy before linking it: an altered one is copied afresh and its backups lose verified', async () => {
      // Wait out the heal the previous test started, so `second` is the previous verified backup.
      await waitVerified(stack, second.id);
      const shared = stored(second, 'kept.txt');
      const bytes = await readFile(shared);
      const at = bytes.length - 2;
      bytes[at] = bytes[at]! ^ 0x01;
      await chmod(shared, 0o644);
      await writeFile(shared, bytes);
      await chmod(shared, 0o444);
      const third = await backup('third', '--full-check');
      // The altered copy was not linked: this backup holds the source's bytes.
      expect((await stat(stored(third, 'kept.txt'))).ino).not.toBe((await stat(shared)).ino);
      expect(await readFile(stored(third, 'kept.txt'))).toEqual(await readFile(src('kept.txt')));
      // Copies that still matched were linked after being read.
      expect((await stat(stored(third, 'same.txt'))).ino).toBe((await stat(stored(second, 'same.txt'))).ino);
      for (const f of third.files) {
        const name = path.basename(f.path);
        expect(await readFile(stored(third, name)), name).toEqual(await readFile(src(name)));
      }
      const pool = createPool(stack.env.DATABASE_URL!, 1);
      try {
        const found = await waitFor(
          async () => {
            const r = await pool.query<{ backup_id: string }>(
              "SELECT DISTINCT backup_id FROM rot_findings WHERE copy = 'local' AND object LIKE '%kept.txt%'",
            );
            return r.rowCount === 2 ? r.rows.map((row) => row.backup_id).sort() : null;
          },
          { timeoutMs: 120_000, what: 'the altered copy to be found in both backups holding it' },
        );
        expect(found).toEqual([first.id, second.id].sort());
      } finally {
        await pool.end();
      }
      expect(agent.log).toMatch(/full check: stored copies of the previous backup differ/);
    }, 300_000);

    it('retiring the middle backup of a linked series leaves the others restorable byte for byte', async () => {
      const names = ['same.txt', 'ctime.txt', 'renamed.txt', 'rewritten.txt', 'kept.txt'];
      const state = async () =>
        new Map(await Promise.all(names.map(async (n) => [n, await readFile(src(n))] as const)));
      const preChange = async (ticket: string) => {
        const run = await stack.cli([
          'backup',
          '--host',
          HOST,
          '--kind',
          'pre_change',
          '--ticket',
          ticket,
          '--description',
          ticket.toLowerCase(),
          '--path',
          source,
          '--json',
          '--wait',
        ]);
        expect(run.code, run.stderr + run.stdout).toBe(0);
        return show(stack, JSON.parse(run.stdout).id);
      };
      const series: { backup: ShownBackup; files: Map<string, Buffer> }[] = [];
      for (const [i, ticket] of ['CHG-1', 'CHG-2', 'CHG-3'].entries()) {
        if (i > 0)
          await writeFile(
            src(names[i] as string),
            `changed for ${ticket} ${randomBytes(64).toString('hex')}\n`,
          );
        series.push({ backup: await preChange(ticket), files: await state() });
      }
      const [one, two, three] = series.map((s) => s.backup) as [ShownBackup, ShownBackup, ShownBackup];
      // The series shares inodes: the middle one with both neighbours.
      expect((await stat(stored(two, 'same.txt'))).ino).toBe((await stat(stored(one, 'same.txt'))).ino);
      expect((await stat(stored(three, 'same.txt'))).ino).toBe((await stat(stored(two, 'same.txt'))).ino);

      expect((await stack.cli(['change', 'verify', 'CHG-2', '--by', 'test'])).code).toBe(0);
      const retired = await stack.cli(['retire', two.key, '--host', HOST, '--by', 'test']);
      expect(retired.code, retired.stderr).toBe(0);
      await expect(stat(path.join(stack.backupRoot, two.key))).rejects.toThrow();

      for (const { backup: b, files } of [series[0]!, series[2]!]) {
        const to = await mkdtemp(path.join(base!, 'restore-'));
        const run = await stack.cli(['restore', b!.id, '--to', to, '--from', 'local']);
        expect(run.code, run.stderr).toBe(0);
        for (const [name, bytes] of files!)
          expect(await readFile(path.join(to, src(name))), `${b!.key} ${name}`).toEqual(bytes);
      }
    }, 300_000);
  },
);
