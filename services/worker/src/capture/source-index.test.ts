import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FoundFile } from '@fleet-backup/capture';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirMaker } from '../fs/atomic-copy.ts';
import { linkUnchanged, type PreviousCopy, unchangedRow } from './link-unchanged.ts';
import {
  INDEX_DIR,
  readSourceIndex,
  removeSourceIndex,
  type SourceEntry,
  writeSourceIndex,
} from './source-index.ts';

const entry = (over: Partial<SourceEntry> = {}): SourceEntry => ({
  dev: 2049n,
  ino: 123456789012n,
  size: 42n,
  mtimeNs: 1_700_000_000_123_456_789n,
  ctimeNs: 1_700_000_001_987_654_321n,
  linked: false,
  ...over,
});

describe('source index', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fb-index-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('reads back what was written, names with newlines and quotes included', async () => {
    const entries: [string, SourceEntry][] = [
      ['srv/a.txt', entry()],
      ['srv/odd\nname "q".txt', entry({ ino: 7n, linked: true })],
    ];
    await writeSourceIndex(root, '20260102', entries);
    expect(await readSourceIndex(root, '20260102')).toEqual(new Map(entries));
  });

  it('reads a missing, torn or foreign index as none, so the snapshot just copies', async () => {
    expect(await readSourceIndex(root, '20260101')).toBeNull();
    await writeSourceIndex(root, '20260101', [['srv/a.txt', entry()]]);
    const file = path.join(root, INDEX_DIR, '20260101');
    const whole = await readFile(file, 'utf8');
    await truncate(file, whole.length - 5);
    expect(await readSourceIndex(root, '20260101')).toBeNull();
    await writeFile(file, 'something else\n');
    expect(await readSourceIndex(root, '20260101')).toBeNull();
    await removeSourceIndex(root, '20260101');
    expect(await readSourceIndex(root, '20260101')).toBeNull();
  });
});

describe('unchangedRow: a file is linked only when identity and every stat field match', () => {
  const file = (
    over: Partial<{ ino: bigint; size: number; mtimeNs: bigint; ctimeNs: bigint }> = {},
  ): FoundFile => ({
    path: '/srv/a.txt',
    pathBytes: null,
    size: over.size ?? 42,
    config: false,
    from: {
      kind: 'tree',
      dir: Buffer.from('/srv'),
      dirId: { dev: 2049n, ino: 2n },
      name: Buffer.from('a.txt'),
      id: { dev: 2049n, ino: over.ino ?? entry().ino },
      mtimeNs: over.mtimeNs ?? entry().mtimeNs,
      ctimeNs: over.ctimeNs ?? entry().ctimeNs,
    },
  });
  const row = {
    path: 'srv/a.txt',
    storedPath: 'srv/a.txt.bak',
    cls: 'general' as const,
    size: 42,
    sha256: 'a'.repeat(64),
    hasWal: null,
    hashedAt: null,
  };
  const prev = (over: Partial<PreviousCopy> = {}): PreviousCopy => ({
    backupId: '00000000-0000-4000-8000-000000000001',
    dir: '/backup/20260101',
    index: new Map([['srv/a.txt', entry()]]),
    rows: new Map([['srv/a.txt', row]]),
    keyId: null,
    checkFirst: false,
    altered: [],
    ...over,
  });

  it('links the same file, and reads it again after any change', () => {
    expect(unchangedRow(file(), prev())).toBe(row);
    expect(unchangedRow(file({ ino: 1n }), prev())).toBeNull();
    expect(unchangedRow(file({ ctimeNs: entry().ctimeNs + 1n }), prev())).toBeNull();
    expect(unchangedRow(file({ mtimeNs: entry().mtimeNs + 1n }), prev())).toBeNull();
    expect(unchangedRow(file({ size: 43 }), prev())).toBeNull();
    expect(unchangedRow(file(), prev({ index: new Map() }))).toBeNull();
  });

  it('never links a database, nor a sensitive file sealed under another key', () => {
    const db = { ...row, cls: 'database' as const };
    expect(unchangedRow(file(), prev({ rows: new Map([['srv/a.txt', db]]) }))).toBeNull();
    const sealed = { ...row, encrypted: { sha256: 'b'.repeat(64), size: 70, keyId: 'k1' } };
    const secret = { ...file(), sensitive: true };
    const rows = new Map([['srv/a.txt', sealed]]);
    expect(unchangedRow(secret, prev({ rows, keyId: 'k1' }))).toBe(sealed);
    expect(unchangedRow(secret, prev({ rows, keyId: 'k2' }))).toBeNull();
    expect(unchangedRow(secret, prev({ keyId: 'k1' }))).toBeNull();
  });
});

describe('linkUnchanged', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fb-link-'));
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('links the final name at once, and replaces a name a killed attempt left there', async () => {
    const before = path.join(root, '20260101');
    await mkdir(path.join(before, 'srv'), { recursive: true });
    await writeFile(path.join(before, 'srv', 'a.txt.bak'), 'stored\n', { mode: 0o444 });
    await writeFile(path.join(before, 'srv', 'b.txt.bak'), 'stored b\n', { mode: 0o444 });
    const row = (name: string) => ({
      path: `srv/${name}`,
      storedPath: `srv/${name}.bak`,
      cls: 'general' as const,
      size: 7,
      sha256: 'a'.repeat(64),
      hasWal: null,
      hashedAt: null,
    });
    const prev: PreviousCopy = {
      backupId: '00000000-0000-4000-8000-000000000001',
      dir: before,
      index: new Map(),
      rows: new Map(),
      keyId: null,
      checkFirst: false,
      altered: [],
    };
    const found = (name: string): FoundFile => ({
      path: `/srv/${name}`,
      pathBytes: null,
      size: 7,
      config: false,
      from: { kind: 'staged', path: '/nonexistent' },
    });
    const dir = path.join(root, '20260102');
    // A killed attempt left b's final name holding something else.
    await mkdir(path.join(dir, 'srv'), { recursive: true });
    await writeFile(path.join(dir, 'srv', 'b.txt.bak'), 'torn');
    const dirs = new DirMaker();
    expect(await linkUnchanged(found('a.txt'), row('a.txt'), dir, prev, dirs)).toMatchObject({
      path: 'srv/a.txt',
    });
    expect(await linkUnchanged(found('b.txt'), row('b.txt'), dir, prev, dirs)).toMatchObject({
      path: 'srv/b.txt',
    });
    for (const name of ['a.txt.bak', 'b.txt.bak']) {
      const [was, now] = await Promise.all([
        stat(path.join(before, 'srv', name)),
        stat(path.join(dir, 'srv', name)),
      ]);
      expect(now.ino).toBe(was.ino);
    }
    expect(await readFile(path.join(dir, 'srv', 'b.txt.bak'), 'utf8')).toBe('stored b\n');
    // No temporary name is left behind.
    expect((await readdir(path.join(dir, 'srv'))).sort()).toEqual(['a.txt.bak', 'b.txt.bak']);
    // A copy that cannot be linked (gone here; another filesystem or the link limit alike) is
    // left to the caller, which copies the file, and nothing is left under its name.
    expect(await linkUnchanged(found('c.txt'), row('c.txt'), dir, prev, dirs)).toBeNull();
    expect((await readdir(path.join(dir, 'srv'))).sort()).toEqual(['a.txt.bak', 'b.txt.bak']);
  });
});
