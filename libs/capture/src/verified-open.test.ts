import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntryChanged, EntryVanished, openDir, openRealFile } from './verified-open.ts';

describe('verified opens', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-vopen-'));
    await mkdir(path.join(dir, 'app'));
    await mkdir(path.join(dir, 'elsewhere'));
    await writeFile(path.join(dir, 'app', 'package.json'), '{"name":"app"}');
    await writeFile(path.join(dir, 'elsewhere', 'package.json'), 'not this one');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('opens a regular file at its real path and reads it through the descriptor', async () => {
    const { handle, stat } = await openRealFile(path.join(dir, 'app', 'package.json'), '/app/package.json');
    try {
      expect(stat.isFile()).toBe(true);
      expect((await handle.readFile()).toString()).toBe('{"name":"app"}');
    } finally {
      await handle.close();
    }
  });

  it('refuses a file reached through a directory swapped for a symlink since its path was checked', async () => {
    await rename(path.join(dir, 'app'), path.join(dir, 'app.away'));
    await symlink(path.join(dir, 'elsewhere'), path.join(dir, 'app'));
    const err = await openRealFile(path.join(dir, 'app', 'package.json'), '/app/package.json').catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(EntryChanged);
    expect(err.message).toBe(
      'changed during the backup: no longer a directory (replaced by a symlink or a file)',
    );
  });

  it('refuses a FIFO swapped in for the file, without blocking, and says when it is gone', async () => {
    const file = path.join(dir, 'app', 'package.json');
    await rm(file);
    execFileSync('mkfifo', [file]);
    const fifo = await openRealFile(file, '/app/package.json').catch((e) => e);
    expect(fifo).toBeInstanceOf(EntryChanged);
    expect(fifo.message).toBe('changed during the backup: no longer a regular file');
    await rm(file);
    expect(await openRealFile(file, '/app/package.json').catch((e) => e)).toBeInstanceOf(EntryVanished);
  });

  it('refuses a file whose directory is reached through a symlink higher up (the kernel followed it)', async () => {
    await mkdir(path.join(dir, 'app', 'sub'));
    await mkdir(path.join(dir, 'elsewhere', 'sub'));
    await writeFile(path.join(dir, 'elsewhere', 'sub', 'x.json'), 'outside');
    await rename(path.join(dir, 'app'), path.join(dir, 'app.away'));
    await symlink(path.join(dir, 'elsewhere'), path.join(dir, 'app'));
    const err = await openRealFile(path.join(dir, 'app', 'sub', 'x.json'), '/app/sub/x.json').catch((e) => e);
    expect(err).toBeInstanceOf(EntryChanged);
    expect(err.message).toBe(
      'changed during the backup: no longer reached at this path (a directory above it was moved or replaced)',
    );
    await expect(
      openDir(
        Buffer.from(path.join(dir, 'app', 'sub')),
        Buffer.from(path.join(dir, 'app', 'sub')),
        '/app/sub',
      ),
    ).rejects.toBeInstanceOf(EntryChanged);
  });
});
