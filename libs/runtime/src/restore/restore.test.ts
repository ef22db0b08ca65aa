import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreFile } from './model.ts';
import { restoreFiles } from './restore.ts';
import type { CopySource } from './sources.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Files as a restore sees them, served from memory: the copy is not what these tests are about. */
function backupOf(files: Record<string, string>): { files: RestoreFile[]; source: CopySource } {
  const bytes = new Map(Object.entries(files).map(([p, text]) => [p, Buffer.from(text)]));
  return {
    files: [...bytes].map(([p, b]) => ({ path: p, storedPath: `${p}.bak`, size: b.length, sha256: sha(b) })),
    source: { name: 'mem', open: async (f) => Readable.from([bytes.get(f.path) as Buffer]) },
  };
}

describe('restore never writes through a symlink it did not create', () => {
  let dir: string;
  let to: string;
  let outside: string;
  const tree = { 'srv/app/zoo/a.txt': 'A', 'srv/app/zoo/b.txt': 'B', 'srv/top.txt': 'T' };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-restore-'));
    to = path.join(dir, 'to');
    outside = path.join(dir, 'outside');
    await mkdir(outside, { recursive: true });
    await mkdir(to, { recursive: true });
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const restore = (force = false) => {
    const b = backupOf(tree);
    return restoreFiles(b.files, [b.source], { to, force });
  };

  it.each([
    ['srv', 'a directory outside'],
    ['srv/app', 'a directory outside'],
    ['srv/app/zoo', 'a directory outside'],
  ])('refuses a symlink at %s (to %s), with or without --force, and writes nothing', async (at) => {
    await mkdir(path.dirname(path.join(to, at)), { recursive: true });
    await symlink(outside, path.join(to, at));
    for (const force of [false, true]) {
      await expect(restore(force)).rejects.toThrow(
        new RegExp(`${path.join(to, at)} is a symlink \\(to ${outside}\\).*never writes through a symlink`),
      );
      expect(await readdir(outside)).toEqual([]);
    }
    // Nothing was written before the refusal either (it is found before the first file).
    expect(await readdir(path.join(to, 'srv')).catch(() => [])).not.toContain('top.txt');
  });

  it.each([
    [
      'to a file',
      async (link: string) => {
        await writeFile(path.join(outside, 'file'), 'victim');
        await symlink(path.join(outside, 'file'), link);
      },
    ],
    ['dangling', async (link: string) => symlink(path.join(outside, 'nowhere'), link)],
  ])('refuses a directory component that is a symlink %s', async (_, make) => {
    await mkdir(path.join(to, 'srv/app'), { recursive: true });
    await make(path.join(to, 'srv/app/zoo'));
    await expect(restore(true)).rejects.toThrow(/srv\/app\/zoo is a symlink/);
    expect((await readdir(outside)).sort()).toEqual(_ === 'dangling' ? [] : ['file']);
    if (_ !== 'dangling') expect(await readFile(path.join(outside, 'file'), 'utf8')).toBe('victim');
  });

  it('refuses a file where a directory goes, naming it', async () => {
    await mkdir(path.join(to, 'srv'), { recursive: true });
    await writeFile(path.join(to, 'srv/app'), 'in the way');
    await expect(restore(true)).rejects.toThrow(`${path.join(to, 'srv/app')} is not a directory`);
  });

  it('refuses a directory where a file goes, even with --force, before writing anything', async () => {
    await mkdir(path.join(to, 'srv/app/zoo/b.txt'), { recursive: true });
    await expect(restore(true)).rejects.toThrow(`${path.join(to, 'srv/app/zoo/b.txt')} is a directory`);
    await expect(lstat(path.join(to, 'srv/app/zoo/a.txt'))).rejects.toThrow(/ENOENT/);
  });

  it.each([
    ['a file', async (p: string) => writeFile(p, 'old')],
    [
      'a symlink to a file outside',
      async (p: string) => {
        await writeFile(path.join(outside, 'target'), 'outside, untouched');
        await symlink(path.join(outside, 'target'), p);
      },
    ],
    ['a dangling symlink', async (p: string) => symlink(path.join(outside, 'target'), p)],
  ])(
    'with %s at the final name: refused without --force; with it, the entry itself is replaced',
    async (_, make) => {
      const final = path.join(to, 'srv/app/zoo/a.txt');
      await mkdir(path.dirname(final), { recursive: true });
      await make(final);
      await expect(restore(false)).rejects.toThrow(/1 file\(s\) already exist .*use --force/);
      const before = await readdir(outside);
      const result = await restore(true);
      expect(result.files).toHaveLength(3);
      expect((await lstat(final)).isFile()).toBe(true);
      expect(await readFile(final, 'utf8')).toBe('A');
      expect(await readdir(outside)).toEqual(before);
      if (before.length)
        expect(await readFile(path.join(outside, 'target'), 'utf8')).toBe('outside, untouched');
      // No temporary file is left behind.
      expect((await readdir(path.dirname(final))).sort()).toEqual(['a.txt', 'b.txt']);
    },
  );

  it('a directory swapped for a symlink during the restore redirects nothing (it is held by descriptor)', async () => {
    const b = backupOf({ 'srv/app/zoo/a.txt': 'A', 'srv/app/zoo/b.txt': 'B' });
    const zoo = path.join(to, 'srv/app/zoo');
    const racing: CopySource = {
      name: 'racing',
      open: async (f) => {
        if (f.path.endsWith('b.txt')) {
          await rename(zoo, `${zoo}-moved`);
          await symlink(outside, zoo);
        }
        return b.source.open(f);
      },
    };
    await restoreFiles(b.files, [racing], { to, force: false });
    expect(await readdir(outside)).toEqual([]);
    expect((await readdir(`${zoo}-moved`)).sort()).toEqual(['a.txt', 'b.txt']);
  });

  it('restores into a --to that is itself a symlink (the top is the user’s choice)', async () => {
    const real = path.join(dir, 'real-target');
    await mkdir(real);
    const link = path.join(dir, 'link-to');
    await symlink(real, link);
    const b = backupOf(tree);
    await restoreFiles(b.files, [b.source], { to: link, force: false });
    expect(await readFile(path.join(real, 'srv/app/zoo/a.txt'), 'utf8')).toBe('A');
    expect(await readlink(link)).toBe(real);
  });

  it('keeps a file that a process holds open intact when --force replaces it (rename, not rewrite)', async () => {
    const final = path.join(to, 'srv/top.txt');
    await mkdir(path.dirname(final), { recursive: true });
    await writeFile(final, 'running version');
    const { open } = await import('node:fs/promises');
    const held = await open(final, 'r');
    try {
      await restore(true);
      expect(await readFile(final, 'utf8')).toBe('T');
      expect((await held.readFile()).toString()).toBe('running version');
    } finally {
      await held.close();
    }
  });
});

describe('a destination that refuses writes', () => {
  it('stops at once naming the path, without trying the other copies (they would fail alike)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-restore-immutable-'));
    const locked = path.join(dir, 'srv');
    await mkdir(locked);
    // Immutable: even root gets EPERM, as on a read-only or full disk.
    execFileSync('chattr', ['+i', locked]);
    try {
      const b = backupOf({ 'srv/top.txt': 'T' });
      let opened = 0;
      const counting: CopySource = {
        name: 'mem',
        open: (f) => {
          opened++;
          return b.source.open(f);
        },
      };
      await expect(restoreFiles(b.files, [counting, counting], { to: dir, force: false })).rejects.toThrow(
        `cannot create a file beside ${path.join(locked, 'top.txt')}: EPERM`,
      );
      expect(opened).toBe(0);
    } finally {
      execFileSync('chattr', ['-i', locked]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('files only checked', () => {
  it('are read and verified but never written (a drill and the generated items)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-restore-check-'));
    try {
      const b = backupOf({ 'environment.secrets.config': 'TOKEN=x\n', 'srv/a': 'A' });
      const result = await restoreFiles(b.files, [b.source], {
        to: dir,
        force: false,
        checkOnly: (f) => f.path === 'environment.secrets.config',
      });
      expect(result.files.map((f) => [f.path, f.written])).toEqual([
        ['environment.secrets.config', false],
        ['srv/a', true],
      ]);
      expect(await readdir(dir)).toEqual(['srv']);
      const bad = backupOf({ 'environment.secrets.config': 'TOKEN=x\n' });
      bad.files[0]!.sha256 = 'f'.repeat(64);
      await expect(
        restoreFiles(bad.files, [bad.source], { to: dir, force: false, checkOnly: () => true }),
      ).rejects.toThrow(/bytes hash to/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('restore writes files in parallel', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-restore-par-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const openFds = async () => (await readdir('/proc/self/fd')).length;

  it('keeps `parallel` files in flight across more directories than it holds open, lists them in order, and leaks no descriptor', async () => {
    // 600 files in 300 directories (more than the 128 a restore keeps open), 3 levels deep, so
    // directories are created, shared and evicted while other files are being written in them.
    const tree: Record<string, string> = {};
    for (let i = 0; i < 600; i++) tree[`d${i % 10}/e${i % 30}/f${i % 300}/file-${i}.txt`] = `bytes of ${i}`;
    const b = backupOf(tree);
    let inFlight = 0;
    let peak = 0;
    // The first reads wait until 8 are in flight together (or 5 s pass, as they would one at a
    // time): the peak does not depend on how the machine schedules the lanes.
    let opened: () => void = () => {};
    const eight = new Promise<void>((resolve) => {
      opened = resolve;
      setTimeout(resolve, 5000).unref();
    });
    const source: CopySource = {
      name: 'slow',
      open: async (f) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        if (peak === 8) opened();
        await eight;
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        inFlight--;
        return b.source.open(f);
      },
    };
    const before = await openFds();
    const to = path.join(dir, 'to');
    const result = await restoreFiles(b.files, [source], { to, force: false, parallel: 8 });
    expect(peak).toBe(8);
    expect(result.files.map((f) => f.path)).toEqual(b.files.map((f) => f.path));
    for (const [p, text] of Object.entries(tree)) expect(await readFile(path.join(to, p), 'utf8')).toBe(text);
    expect(await openFds()).toBe(before);
  });

  it('stops at the first file no copy serves, after the files in flight land, naming it', async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 50; i++) tree[`d/file-${String(i).padStart(2, '0')}.txt`] = `bytes of ${i}`;
    const b = backupOf(tree);
    const opened: string[] = [];
    let openedBeforeFailure = 0;
    const source: CopySource = {
      name: 'mem',
      open: async (f) => {
        opened.push(f.path);
        if (f.path === 'd/file-10.txt') {
          openedBeforeFailure = opened.length;
          throw new Error('gone');
        }
        return b.source.open(f);
      },
    };
    const before = await openFds();
    const run = restoreFiles(b.files, [source], { to: path.join(dir, 'to'), force: false, parallel: 4 });
    await expect(run).rejects.toThrow(/could not restore d\/file-10\.txt from any copy \(mem: gone\)/);
    // Opened after the failing one: the files the other lanes had in flight (parallel - 1), and
    // the few each lane took while the failing file's temp was removed and its directory let go
    // (real disk work: 6 under load, where 4 was assumed). What matters is that it stops: nowhere
    // near the 39 files after file-10. Files the other lanes took before the failing one was
    // opened count before it (counting from file-10's place in the list flaked in CI: 15 opened,
    // where lanes had run ahead of the failing one).
    expect(openedBeforeFailure).toBeGreaterThan(0);
    expect(opened.length - openedBeforeFailure).toBeLessThanOrEqual(3 * 4);
    expect(await openFds()).toBe(before);
  });
});

describe('restored files land in batches, after one flush of the filesystem', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-restore-land-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const walk = async (root: string): Promise<string[]> =>
    (await readdir(root, { recursive: true })).map(String).sort();

  it('lands more files than a batch holds under their own names, leaving no temporary name', async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 2500; i++) tree[`d${i % 7}/f-${i}`] = `bytes of ${i}`;
    const b = backupOf(tree);
    const to = path.join(dir, 'to');
    await restoreFiles(b.files, [b.source], { to, force: false, parallel: 8 });
    const names = await walk(to);
    expect(names.filter((n) => n.includes('.fbr-'))).toEqual([]);
    expect(names.filter((n) => n.includes('/'))).toHaveLength(2500);
    for (const [p, text] of Object.entries(tree)) expect(await readFile(path.join(to, p), 'utf8')).toBe(text);
  });

  it('lands files on another filesystem below the top too (synced one by one there)', async (ctx) => {
    const to = path.join(dir, 'to');
    const mnt = path.join(to, 'mnt');
    await mkdir(mnt, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'fbt-restore', mnt], { stdio: 'ignore' });
    } catch {
      return ctx.skip('mounting a tmpfs needs root');
    }
    try {
      const tree: Record<string, string> = {};
      for (let i = 0; i < 40; i++) tree[`${i % 2 ? 'mnt' : 'disk'}/f-${i}`] = `bytes of ${i}`;
      const b = backupOf(tree);
      await restoreFiles(b.files, [b.source], { to, force: false, parallel: 4 });
      for (const [p, text] of Object.entries(tree))
        expect(await readFile(path.join(to, p), 'utf8')).toBe(text);
      expect((await walk(to)).filter((n) => n.includes('.fbr-'))).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('removes the written files still waiting for their names when the restore fails', async () => {
    const tree: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) tree[`d/f-${String(i).padStart(4, '0')}`] = `bytes of ${i}`;
    const b = backupOf(tree);
    const source: CopySource = {
      name: 'mem',
      open: async (f) => {
        if (f.path === 'd/f-1200') throw new Error('gone');
        return b.source.open(f);
      },
    };
    const to = path.join(dir, 'to');
    await expect(restoreFiles(b.files, [source], { to, force: false, parallel: 4 })).rejects.toThrow(
      /could not restore d\/f-1200/,
    );
    const names = await walk(to);
    expect(names.filter((n) => n.includes('.fbr-'))).toEqual([]);
    // The first batch of a thousand landed; none of the next is left half-way.
    expect(names.filter((n) => n.startsWith('d/'))).toHaveLength(1000);
  });
});
