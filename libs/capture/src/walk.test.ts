import { execFileSync } from 'node:child_process';
import { chown, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PermanentFailure, ruleSet, sensitiveMatcher } from '@fleet-backup/core';
import { setAttributeSync } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WalkRoot } from './found.ts';
import { walk } from './walk.ts';

const NOBODY = 65534;
const RAW = Buffer.from([0x62, 0x61, 0x64, 0xff, 0x2e, 0x74, 0x78, 0x74]); // "bad\xff.txt"

const rootFor = (p: string): WalkRoot => ({
  path: p,
  config: false,
  rules: ruleSet(p),
  sensitive: sensitiveMatcher(p),
});

describe('walk', () => {
  let dir: string;
  let tree: string;
  const limits = () => ({ backupRoot: path.join(dir, 'backup'), allowedRoots: [dir] });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-walk-'));
    tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'empty'), { recursive: true, mode: 0o750 });
    await mkdir(path.join(tree, 'acl'));
    await mkdir(path.join(tree, 'logs'));
    await writeFile(path.join(tree, 'logs', 'x.log'), 'log\n');
    await writeFile(path.join(tree, 'a.txt'), 'a\n', { mode: 0o640 });
    await chown(path.join(tree, 'a.txt'), NOBODY, NOBODY);
    setAttributeSync(path.join(tree, 'acl'), 'user.note', 'hello');
    execFileSync('setfacl', ['-m', 'u:nobody:rx,d:u:nobody:r', path.join(tree, 'acl')]);
    await symlink('a.txt', path.join(tree, 'link-in'));
    await symlink('/etc', path.join(tree, 'link-out'));
    execFileSync('mkfifo', [path.join(tree, 'fifo')]);
    await writeFile(Buffer.concat([Buffer.from(`${tree}/`), RAW]), 'raw name\n');
    await symlink(Buffer.from([0x74, 0xfe]), path.join(tree, 'raw-target'));
    await symlink(tree, path.join(dir, 'tree-link'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('records every directory (empty ones too) and symlink as a node, with attributes, and follows no symlink', async () => {
    const found = await walk([rootFor(tree)], limits());
    const rel = tree.slice(1);
    expect(found.nodes.map((n) => [n.path, n.type, n.target])).toEqual([
      [rel, 'dir', null],
      [`${rel}/acl`, 'dir', null],
      [`${rel}/empty`, 'dir', null],
      [`${rel}/link-in`, 'symlink', 'a.txt'],
      [`${rel}/link-out`, 'symlink', '/etc'],
      [`${rel}/raw-target`, 'symlink', 't\\xfe'],
    ]);
    const byPath = Object.fromEntries(found.nodes.map((n) => [n.path.slice(rel.length), n]));
    expect(byPath['/empty']?.attrs).toMatchObject({
      mode: 0o750,
      uid: 0,
      gid: 0,
      owner: 'root',
      group: 'root',
    });
    const emptyStat = await lstat(path.join(tree, 'empty'), { bigint: true });
    expect(byPath['/empty']?.attrs.mtimeNs).toBe(emptyStat.mtimeNs.toString());
    expect(Object.keys(byPath['/acl']?.attrs.xattrs ?? {}).sort()).toEqual([
      'system.posix_acl_access',
      'system.posix_acl_default',
      'user.note',
    ]);
    expect(byPath['/acl']?.attrs.xattrs?.['user.note']).toBe(Buffer.from('hello').toString('base64'));
    expect(byPath['/raw-target']?.targetBytes).toEqual(Buffer.from([0x74, 0xfe]));
    // Nothing beneath /etc was listed, and no link became a file.
    expect(found.files.map((f) => f.path)).toEqual([`${tree}/a.txt`, `${tree}/bad\\xff.txt`]);
  });

  it('keeps a name that is not valid UTF-8 as raw bytes, shown with \\xHH escapes', async () => {
    const found = await walk([rootFor(tree)], limits());
    const raw = found.files.find((f) => f.path.endsWith('.txt') && f.pathBytes);
    expect(raw?.path).toBe(`${tree}/bad\\xff.txt`);
    expect(raw?.pathBytes).toEqual(Buffer.concat([Buffer.from(`${tree}/`), RAW]));
    expect(raw?.from).toMatchObject({ kind: 'tree', name: RAW });
  });

  it('skips a FIFO without opening it, and excluded entries with their rule', async () => {
    const found = await walk([rootFor(tree)], limits());
    expect(found.skipped).toEqual([
      { path: `${tree}/fifo`, reason: 'not a regular file (a FIFO)' },
      { path: `${tree}/logs`, reason: 'excluded by default rule logs: logs/', dir: true },
    ]);
  });

  it('walks a requested path reached through a symlink by its real path, keeping the requested names', async () => {
    const link = path.join(dir, 'tree-link');
    const found = await walk([rootFor(link)], limits());
    expect(found.files.map((f) => f.path)).toEqual([`${link}/a.txt`, `${link}/bad\\xff.txt`]);
    expect(found.files[0]?.from).toMatchObject({ kind: 'tree', dir: Buffer.from(tree) });
  });

  it("refuses, for a token's backup, a requested path whose real path lies outside the token's prefixes", async () => {
    const scope = { token: 'migrator', prefixes: [path.join(dir, 'tree-link')] };
    const err = await walk([rootFor(path.join(dir, 'tree-link'))], { ...limits(), scope }).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentFailure);
    expect(err.message).toBe(
      `path ${dir}/tree-link resolves (through a symlink) outside the path prefixes of token migrator; ` +
        'a pre_change token backs up only what lies under its prefixes after every symlink, as the API refuses other paths (403)',
    );
    const inScope = await walk([rootFor(tree)], {
      ...limits(),
      scope: { token: 'migrator', prefixes: [tree] },
    });
    expect(inScope.files).toHaveLength(2);
  });

  it('gives the event loop a turn while it lstats a large directory synchronously', async () => {
    const wide = path.join(dir, 'wide');
    await mkdir(wide);
    await Promise.all(Array.from({ length: 4000 }, (_, i) => writeFile(path.join(wide, `f${i}`), '')));
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    const t = performance.now();
    try {
      const found = await walk([rootFor(wide)], {
        backupRoot: path.join(dir, 'backup'),
        allowedRoots: [dir],
      });
      expect(found.files).toHaveLength(4000);
    } finally {
      clearInterval(timer);
    }
    // One 10 ms slice at a time: a walk this long lets timers run many times.
    if (performance.now() - t > 40) expect(turns).toBeGreaterThan(1);
  });
});
