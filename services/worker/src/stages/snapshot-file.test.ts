import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFile,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type FoundFile,
  GeneratedItemMissing,
  loadOwnerNames,
  type OpenedFd,
  type OpenedFile,
  type SkippedItem,
  TreeReader,
  type TreeSource,
  walk,
} from '@fleet-backup/capture';
import { NO_KEYS, ruleSet, sensitiveMatcher } from '@fleet-backup/core';
import { setAttributeSync } from '@napi-rs/xattr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SMALL_READ } from '../fs/buffer-pool.ts';
import { snapshotFile } from './snapshot-file.ts';
import { COPIED_WHILE_WRITTEN, type CopyContext } from './snapshot-row.ts';

const NOBODY = 65534;
const SECRET = `outside-secret-${Math.random().toString(36).slice(2)}`;
const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

describe('snapshotFile: what changed between the walk and the copy is never stored', () => {
  let dir: string;
  let tree: string;
  let outside: string;
  let dest: string;
  let notes: SkippedItem[];
  let reader: TreeReader;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-snapfile-'));
    tree = path.join(dir, 'tree');
    outside = path.join(dir, 'outside');
    dest = path.join(dir, 'backup', 'key');
    for (const d of ['race/sub', 'race2/sub/inner', 'plain'])
      await mkdir(path.join(tree, d), { recursive: true });
    await mkdir(path.join(outside, 'inner'), { recursive: true });
    await writeFile(path.join(tree, 'race/sub/f.txt'), 'inside f\n');
    await writeFile(path.join(tree, 'race2/sub/inner/g.txt'), 'inside g\n');
    await writeFile(path.join(outside, 'f.txt'), SECRET);
    await writeFile(path.join(outside, 'inner', 'g.txt'), SECRET);
    for (const f of ['a.txt', 'c.txt', 'd.txt', 'grow.txt'])
      await writeFile(path.join(tree, 'plain', f), `${f}\n`);
    notes = [];
    reader = new TreeReader();
  });
  afterEach(async () => {
    await reader.close();
    await rm(dir, { recursive: true, force: true });
  });

  const found = async () => {
    const root = { path: tree, config: false, rules: ruleSet(tree), sensitive: sensitiveMatcher(tree) };
    const walked = await walk([root], { backupRoot: path.join(dir, 'backup'), allowedRoots: [tree] });
    return Object.fromEntries(walked.files.map((f) => [f.path.slice(tree.length + 1), f]));
  };
  const context = async (over: Partial<CopyContext> = {}): Promise<CopyContext> => ({
    signal: new AbortController().signal,
    notes,
    snapshotted: new Set(),
    keyring: NO_KEYS,
    reader,
    names: await loadOwnerNames(),
    ...over,
  });
  const storedBytes = async () => {
    const entries = await readdir(dest, { recursive: true, withFileTypes: true }).catch(() => []);
    const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
    return Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
  };

  it('skips a file whose directory became a symlink out of the tree, at any depth, reading nothing there', async () => {
    const files = await found();
    await rename(path.join(tree, 'race/sub'), path.join(tree, 'race/sub.away'));
    await symlink(outside, path.join(tree, 'race/sub'));
    await rename(path.join(tree, 'race2/sub'), path.join(tree, 'race2/sub.away'));
    await symlink(outside, path.join(tree, 'race2/sub'));
    const ctx = await context();
    expect(await snapshotFile(files['race/sub/f.txt']!, dest, ctx)).toBeNull();
    expect(await snapshotFile(files['race2/sub/inner/g.txt']!, dest, ctx)).toBeNull();
    expect(notes).toEqual([
      {
        path: `${tree}/race/sub/f.txt`,
        reason: `changed during the backup: directory ${tree}/race/sub: no longer a directory (replaced by a symlink or a file)`,
      },
      {
        path: `${tree}/race2/sub/inner/g.txt`,
        reason: `changed during the backup: directory ${tree}/race2/sub/inner: no longer reached at this path (a directory above it was moved or replaced)`,
      },
    ]);
    expect((await storedBytes()).includes(SECRET)).toBe(false);
  });

  it('skips a file replaced by another (a rename over it), a FIFO swapped in (without blocking), and a vanished one', async () => {
    const files = await found();
    const plain = (f: string) => path.join(tree, 'plain', f);
    await writeFile(plain('a.new'), 'new a\n');
    await rename(plain('a.new'), plain('a.txt'));
    await unlink(plain('c.txt'));
    execFileSync('mkfifo', [plain('c.txt')]);
    await unlink(plain('d.txt'));
    const ctx = await context();
    for (const f of ['a.txt', 'c.txt', 'd.txt'])
      expect(await snapshotFile(files[`plain/${f}`]!, dest, ctx)).toBeNull();
    expect(notes.map((n) => [path.basename(n.path), n.reason])).toEqual([
      ['a.txt', 'changed during the backup: replaced by another file between listing and copying'],
      ['c.txt', 'changed during the backup: no longer a regular file'],
      ['d.txt', 'vanished during the backup'],
    ]);
  });

  it('takes a file growing while it is copied up to its size when opened, and notes it, small or large', async () => {
    const big = `${'x'.repeat(SMALL_READ)}\n`;
    await writeFile(path.join(tree, 'plain', 'big.txt'), big);
    const files = await found();
    // Small files are opened by descriptor (stages/snapshot-small.ts), larger ones by handle.
    class GrowingReader extends TreeReader {
      override async open(file: FoundFile): Promise<OpenedFile> {
        const opened = await super.open(file);
        await appendFile(file.path, 'appended while copying\n');
        return opened;
      }
      override async openFd(logical: string, from: TreeSource): Promise<OpenedFd> {
        const opened = await super.openFd(logical, from);
        await appendFile(logical, 'appended while copying\n');
        return opened;
      }
    }
    const growing = new GrowingReader();
    try {
      const ctx = await context({ reader: growing });
      for (const [name, content] of [
        ['grow.txt', 'grow.txt\n'],
        ['big.txt', big],
      ] as const) {
        const row = await snapshotFile(files[`plain/${name}`]!, dest, ctx);
        expect(row).toMatchObject({ size: content.length, sha256: sha256(content) });
        expect(await readFile(path.join(dest, row!.storedPath), 'utf8')).toBe(content);
      }
      expect(notes).toEqual(
        ['grow.txt', 'big.txt'].map((f) => ({
          path: path.join(tree, 'plain', f),
          reason: COPIED_WHILE_WRITTEN,
        })),
      );
    } finally {
      await growing.close();
    }
  });

  it('records mode, owner, mtime and xattrs from the opened file, and a raw name byte for byte', async () => {
    const a = path.join(tree, 'plain', 'a.txt');
    await chown(a, NOBODY, NOBODY);
    setAttributeSync(a, 'user.origin', 'fleet');
    execFileSync('setfacl', ['-m', 'u:nobody:rw', a]);
    const raw = Buffer.concat([Buffer.from(`${tree}/plain/`), Buffer.from([0x6e, 0xe9, 0x2e, 0x74])]);
    await writeFile(raw, 'latin-1 name\n');
    const files = await found();
    const ctx = await context();
    const row = await snapshotFile(files['plain/a.txt']!, dest, ctx);
    expect(row?.attrs).toMatchObject({ uid: NOBODY, gid: NOBODY, owner: 'nobody', group: 'nogroup' });
    expect(Object.keys(row?.attrs?.xattrs ?? {}).sort()).toEqual(['system.posix_acl_access', 'user.origin']);
    const rawRow = await snapshotFile(files['plain/n\\xe9.t']!, dest, ctx);
    expect(rawRow).toMatchObject({
      path: `${tree.slice(1)}/plain/n\\xe9.t`,
      storedPath: `${tree.slice(1)}/plain/n\\xe9.t.bak`,
      pathBytes: raw.subarray(1),
      sha256: sha256('latin-1 name\n'),
    });
    expect(await readFile(path.join(dest, rawRow!.storedPath), 'utf8')).toBe('latin-1 name\n');
    expect(notes).toEqual([]);
  });

  it('fails the attempt when a generated item went missing, and stores a present one under its own name', async () => {
    const staging = path.join(dir, 'staging');
    await mkdir(staging);
    await writeFile(path.join(staging, 'environment.config'), 'A=1\n');
    const item = (name: string): FoundFile => ({
      path: `/${name}`,
      pathBytes: null,
      from: { kind: 'staged', path: path.join(staging, name) },
      size: 0,
      config: true,
    });
    const ctx = await context();
    const row = await snapshotFile(item('environment.config'), dest, ctx);
    expect(row).toMatchObject({ path: 'environment.config', storedPath: 'environment.config', attrs: null });
    const missing = await snapshotFile(item('dependencies.config'), dest, ctx).catch((e) => e);
    expect(missing).toBeInstanceOf(GeneratedItemMissing);
    expect(missing.message).toMatch(
      /generated item \/dependencies\.config vanished from its staging file .* the retry regenerates it/,
    );
    expect(notes).toEqual([]);
  });
});
