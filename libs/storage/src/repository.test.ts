import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError } from './errors.ts';
import { FsTarget } from './fs-target.ts';
import { blobKey, manifestKey } from './layout.ts';
import {
  MANIFEST_FORMAT,
  MAX_MANIFEST_TEXT,
  type Manifest,
  manifestText,
  serializeManifest,
} from './manifest.ts';
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

  it('stores a manifest gzipped, the same bytes streamed as made whole, and about a fifth of its JSON', async () => {
    const big = manifest();
    for (let i = 0; i < 2000; i++)
      big.files[`srv/app/d${i % 20}/f${i}.dat.bak`] = {
        path: `srv/app/d${i % 20}/f${i}.dat`,
        size: 1000 + i,
        sha256: sha256Hex(`file ${i}`),
        attrs: {
          mode: 0o644,
          uid: 0,
          gid: 0,
          owner: 'root',
          group: 'root',
          mtimeNs: `${1_700_000_000_000_000_000n + BigInt(i)}`,
        },
      };
    const { sha256 } = await writeManifest(target, big);
    const stored = await readAll(await target.get(manifestKey(big.host, big.key)));
    expect(stored.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(sha256Hex(stored)).toBe(sha256);
    const where = { target: 'second', key: 'm' };
    expect(serializeManifest(big, where)).toEqual(stored);
    const json = manifestText(stored, where);
    expect(json.length).toBeGreaterThan(4 * stored.length);
    expect(await readManifest(target, big.host, big.key)).toEqual(big);
  });

  it('reads a manifest stored as plain JSON before they were compressed, and takes it as the same manifest', async () => {
    const key = manifestKey('db-1', '20240101_0930_migration');
    const plain = manifestText(serializeManifest(manifest(), { target: 'second', key }), {
      target: 'second',
      key,
    });
    await target.put(key, bufferBody(plain), { sha256: sha256Hex(plain) });
    expect(await readManifest(target, 'db-1', '20240101_0930_migration')).toEqual(manifest());
    // A retried replicate finds it there: the same manifest, not a conflict, and its bytes stay.
    expect(await writeManifest(target, manifest())).toEqual({ written: false, sha256: sha256Hex(plain) });
    await expect(writeManifest(target, manifest({ status: 'verified' }))).rejects.toThrow(/already exists/);
  });

  it('refuses a manifest whose gzip is damaged, or that unpacks past what any manifest could be', async () => {
    const key = manifestKey('db-1', 'bad');
    const stored = serializeManifest(manifest(), { target: 'second', key });
    stored[stored.length - 6]! ^= 0xff; // inside the CRC-32 trailer
    await target.put(key, bufferBody(stored), { sha256: sha256Hex(stored) });
    await expect(readManifest(target, 'db-1', 'bad')).rejects.toThrow(/does not unpack/);
    // Some 260 KiB that would unpack to more than any manifest: refused, not unpacked whole.
    const bomb = gzipSync(Buffer.alloc(MAX_MANIFEST_TEXT + 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(MAX_MANIFEST_TEXT / 512);
    expect(() => manifestText(bomb, { target: 'second', key })).toThrow(/does not unpack/);
  });

  it('iterates every object under a prefix across pages', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
    for (const key of keys) await target.put(key, bufferBody(Buffer.from(key)), { sha256: sha256Hex(key) });
    const seen: string[] = [];
    for await (const info of listAll(target, 'p/', 7)) seen.push(info.key);
    expect(seen).toEqual(keys);
  });
});
