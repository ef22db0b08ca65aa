import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError } from './errors.ts';
import { FsTarget } from './fs-target.ts';
import { blobKey, manifestKey } from './layout.ts';
import { MANIFEST_FORMAT, type Manifest } from './manifest.ts';
import { hasBlob, listAll, putBlobIfAbsent, readManifest, writeManifest } from './repository.ts';
import { bufferBody, readAll, sha256Hex } from './testing/data.ts';

function manifest(entry: unknown = { status: 'active' }): Manifest {
  const sha256 = sha256Hex('db bytes');
  return {
    format: MANIFEST_FORMAT,
    host: 'db-1',
    kind: 'pre_change',
    key: '20240101_0930_migration',
    created: '2024-01-01T09:30:00Z',
    files: { 'app.db': { path: 'app.db', size: 8, sha256 } },
    entry,
  };
}

describe('repository', () => {
  let root: string;
  let target: FsTarget;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'fleet-backup-repo-'));
    target = new FsTarget({ name: 'second', root });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('uploads a blob once and reports it present afterwards', async () => {
    const bytes = Buffer.from('db bytes');
    const sha = sha256Hex(bytes);
    let opened = 0;
    const open = (): Readable => {
      opened++;
      return bufferBody(bytes);
    };
    expect(await hasBlob(target, sha, bytes.length)).toBe(false);
    expect(await putBlobIfAbsent(target, sha, bytes.length, open)).toEqual({ uploaded: true });
    expect(await putBlobIfAbsent(target, sha, bytes.length, open)).toEqual({ uploaded: false });
    expect(opened).toBe(1);
    expect(await hasBlob(target, sha, bytes.length)).toBe(true);
    expect(await hasBlob(target, sha, bytes.length + 1)).toBe(false);
    expect(await readAll(await target.get(blobKey(sha)))).toEqual(bytes);
  });

  it('never overwrites a blob that holds other bytes', async () => {
    const sha = sha256Hex('real');
    const other = Buffer.from('corrupt!');
    await target.put(blobKey(sha), bufferBody(other), { sha256: sha256Hex(other) });
    const put = putBlobIfAbsent(target, sha, 4, () => bufferBody(Buffer.from('real')));
    await expect(put).rejects.toBeInstanceOf(PermanentError);
    expect(await readAll(await target.get(blobKey(sha)))).toEqual(other);
  });

  it('writes a manifest once; the same manifest again is a no-op', async () => {
    expect(await writeManifest(target, manifest())).toMatchObject({ written: true });
    const key = manifestKey('db-1', '20240101_0930_migration');
    const first = await readAll(await target.get(key));
    expect(await writeManifest(target, manifest())).toMatchObject({ written: false });
    expect(await readAll(await target.get(key))).toEqual(first);
    expect(await readManifest(target, 'db-1', '20240101_0930_migration')).toEqual(manifest());
  });

  it('refuses to overwrite a manifest with different bytes', async () => {
    await writeManifest(target, manifest());
    const write = writeManifest(target, manifest({ status: 'verified' }));
    await expect(write).rejects.toBeInstanceOf(PermanentError);
    await expect(write).rejects.toThrow(/already exists/);
    const back = await readManifest(target, 'db-1', '20240101_0930_migration');
    expect(back.entry).toEqual({ status: 'active' });
  });

  it('reads a missing manifest as NotFoundError and a corrupt one as PermanentError', async () => {
    await expect(readManifest(target, 'db-1', 'nope')).rejects.toBeInstanceOf(NotFoundError);
    const key = manifestKey('db-1', 'bad');
    const junk = Buffer.from('{"format":"fleet-backup.manifest/1"}');
    await target.put(key, bufferBody(junk), { sha256: sha256Hex(junk) });
    await expect(readManifest(target, 'db-1', 'bad')).rejects.toBeInstanceOf(PermanentError);
  });

  it('iterates every object under a prefix across pages', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
    for (const key of keys) await target.put(key, bufferBody(Buffer.from(key)), { sha256: sha256Hex(key) });
    const seen: string[] = [];
    for await (const info of listAll(target, 'p/', 7)) seen.push(info.key);
    expect(seen).toEqual(keys);
  });
});
