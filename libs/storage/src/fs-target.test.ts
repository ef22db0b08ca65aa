import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError, TransientError } from './errors.ts';
import { mapFsError } from './fs-errors.ts';
import { FsTarget } from './fs-target.ts';
import { compareKeys } from './keys.ts';
import { describeConformance } from './testing/conformance.ts';
import { bufferBody, patternBytes, readAll, sha256Hex } from './testing/data.ts';
import { collectPages } from './testing/list-checks.ts';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'fleet-backup-fs-target-'));
}

describeConformance('FsTarget', async () => {
  const root = await tempRoot();
  return {
    target: new FsTarget({ name: 'second', root }),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe('FsTarget (filesystem specifics)', () => {
  let root: string;
  let target: FsTarget;

  beforeEach(async () => {
    root = await tempRoot();
    target = new FsTarget({ name: 'second', root });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function put(key: string, bytes: Buffer): Promise<void> {
    await target.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
  }

  it('describes itself with a file URL and defaults to onsite', () => {
    expect(target.kind).toBe('fs');
    expect(target.offsite).toBe(false);
    expect(target.location).toBe(`file://${root}`);
  });

  it('fails with a clear PermanentError when the root is a regular file', async () => {
    const file = join(root, 'not-a-dir');
    await writeFile(file, 'x');
    const broken = new FsTarget({ name: 'broken', root: file });
    const err = await broken
      .put('a/b', bufferBody(Buffer.from('x')), { sha256: sha256Hex('x') })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain('broken');
    expect(err.message).toContain(file);
    expect(err.message).toContain('not a directory');
  });

  it('never creates a missing root (an unmounted mount point must not fill the wrong disk)', async () => {
    const missing = join(root, 'unmounted');
    const t = new FsTarget({ name: 'nfs', root: missing });
    const err = await t.put('a', bufferBody(Buffer.from('x')), { sha256: sha256Hex('x') }).catch((e) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain('does not exist');
    await expect(stat(missing)).rejects.toThrow();
  });

  it('leaves nothing behind when the body stream fails halfway', async () => {
    const bytes = patternBytes(4 << 20, 3);
    let sent = 0;
    const body = new Readable({
      read() {
        if (sent >= bytes.length / 2) {
          this.destroy(new Error('source disk vanished'));
          return;
        }
        this.push(bytes.subarray(sent, sent + 65536));
        sent += 65536;
      },
    });
    await expect(target.put('crash/object', body, { sha256: sha256Hex(bytes) })).rejects.toThrow(
      'source disk vanished',
    );
    await expect(target.head('crash/object')).rejects.toBeInstanceOf(NotFoundError);
    expect((await target.list('')).objects).toEqual([]);
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('removes the temp file after a sha256 mismatch', async () => {
    const bytes = Buffer.from('payload');
    const put = target.put('bad/sha', bufferBody(bytes), { sha256: sha256Hex('other') });
    await expect(put).rejects.toMatchObject({ name: 'IntegrityError', expected: sha256Hex('other') });
    expect(await readdir(join(root, '.tmp'))).toEqual([]);
  });

  it('rejects a size that does not match the bytes', async () => {
    const bytes = Buffer.from('payload');
    const put = target.put('bad/size', bufferBody(bytes), { sha256: sha256Hex(bytes), size: 3 });
    await expect(put).rejects.toBeInstanceOf(PermanentError);
    await expect(put).rejects.toThrow('bad/size: expected 3 bytes, got 7');
    await expect(target.head('bad/size')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('hides and reserves the .tmp directory', async () => {
    await put('a', Buffer.from('a'));
    await writeFile(join(root, '.tmp', 'stray.part'), 'partial');
    expect((await target.list('')).objects.map((o) => o.key)).toEqual(['a']);
    expect((await target.list('.tmp/')).objects).toEqual([]);
    await expect(put('.tmp/x', Buffer.from('x'))).rejects.toBeInstanceOf(PermanentError);
  });

  it('lists in UTF-8 byte order, not UTF-16 order', async () => {
    // U+FFFD sorts before U+1F389 by bytes but after it by UTF-16 code units.
    const keys = ['u/\uFFFD', 'u/🎉', 'u/z', 'u/é'];
    for (const key of keys) await put(key, Buffer.from(key));
    const { keys: listed } = await collectPages(target, 'u/', 2);
    expect(listed).toEqual([...keys].sort(compareKeys));
    expect(listed).toEqual(['u/z', 'u/é', 'u/\uFFFD', 'u/🎉']);
  });

  it('rejects a cursor it did not issue', async () => {
    await expect(target.list('', { cursor: '!!not-a-cursor!!' })).rejects.toBeInstanceOf(PermanentError);
  });

  it('prunes directories left empty by delete, but never the root', async () => {
    await put('hosts/h1/20240101/manifest.json', Buffer.from('{}'));
    await put('hosts/h2/20240101/manifest.json', Buffer.from('{}'));
    await target.delete('hosts/h1/20240101/manifest.json');
    expect(await readdir(join(root, 'hosts'))).toEqual(['h2']);
    await target.delete('hosts/h2/20240101/manifest.json');
    expect((await readdir(root)).sort()).toEqual(['.tmp']);
  });

  it('treats a directory as no object', async () => {
    await put('dir/file', Buffer.from('x'));
    await expect(target.head('dir')).rejects.toBeInstanceOf(NotFoundError);
    await expect(target.get('dir')).rejects.toBeInstanceOf(NotFoundError);
    await target.delete('dir');
    expect(await readAll(await target.get('dir/file'))).toEqual(Buffer.from('x'));
  });

  it('rejects a range that starts past the end', async () => {
    await put('r', Buffer.from('0123'));
    await expect(target.get('r', { start: 4 })).rejects.toBeInstanceOf(PermanentError);
    await expect(target.get('r', { start: 2, end: 1 })).rejects.toBeInstanceOf(PermanentError);
  });
});

describe('mapFsError', () => {
  const ctx = { target: 'second', key: 'k', path: '/mnt/second/k', op: 'write', reading: false };
  const errno = (code: string) => Object.assign(new Error(`${code}: boom`), { code });

  it('maps a full disk to a PermanentError an operator can act on', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const err = mapFsError(errno(code), ctx);
      expect(err).toBeInstanceOf(PermanentError);
      expect(err.message).toMatch(/^disk (full|quota exceeded) on target second at \/mnt\/second\/k/);
    }
  });

  it('maps permission and read-only errors to PermanentError', () => {
    for (const code of ['EACCES', 'EPERM', 'EROFS'])
      expect(mapFsError(errno(code), ctx)).toBeInstanceOf(PermanentError);
  });

  it('maps a missing file on read to NotFoundError', () => {
    expect(mapFsError(errno('ENOENT'), { ...ctx, reading: true })).toBeInstanceOf(NotFoundError);
  });

  it('maps I/O and NFS errors to TransientError', () => {
    for (const code of ['EIO', 'ESTALE', 'EMFILE', 'ETIMEDOUT']) {
      expect(mapFsError(errno(code), ctx)).toBeInstanceOf(TransientError);
    }
  });
});
