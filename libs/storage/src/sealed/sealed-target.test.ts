import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CorruptObjectError } from '../errors.ts';
import { FsTarget } from '../fs-target.ts';
import { blobKey } from '../layout.ts';
import { listAll } from '../repository.ts';
import { describeConformance } from '../testing/conformance.ts';
import { patternBytes, readAll, sha256Hex } from '../testing/data.ts';
import { HEADER_BYTES, plainSize, SEGMENT_BYTES, SealStream, sealBytes, storedSize } from './format.ts';
import { type DataKeyStore, type MasterKeys, SealingKeys, type WrappedDataKey } from './keys.ts';
import { SealedTarget } from './sealed-target.ts';

/** Encryption keys as core's Keyring offers them. */
function masters(current: string, ...keys: [string, Buffer][]): MasterKeys {
  const map = new Map(keys);
  return { currentId: current, ids: [...map.keys()], keyFor: (id) => map.get(id) };
}

/** The catalog's table of wrapped data keys, in memory. */
function memoryStore(): DataKeyStore & { rows: WrappedDataKey[] } {
  const rows: WrappedDataKey[] = [];
  return {
    rows,
    records: async () => [...rows],
    add: async (r) => {
      if (!rows.some((x) => x.id === r.id && x.wrappedBy === r.wrappedBy)) rows.push(r);
    },
  };
}

const K1: [string, Buffer] = ['k1', randomBytes(32)];
const K2: [string, Buffer] = ['k2', randomBytes(32)];

async function sealedFs(store = memoryStore(), keys = masters('k1', K1)) {
  const root = await mkdtemp(join(tmpdir(), 'fleet-backup-sealed-'));
  const inner = new FsTarget({ name: 'sealed', root });
  return { root, inner, store, target: new SealedTarget(inner, new SealingKeys(store, keys)) };
}

const put = (t: SealedTarget, key: string, bytes: Buffer) =>
  t.put(key, bytes, { sha256: sha256Hex(bytes), size: bytes.length });

describeConformance('SealedTarget over FsTarget', async () => {
  const { root, target } = await sealedFs();
  return { target, cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('SealedTarget', () => {
  it('maps sizes both ways, for every segment boundary', () => {
    for (const n of [
      0,
      1,
      SEGMENT_BYTES - 1,
      SEGMENT_BYTES,
      SEGMENT_BYTES + 1,
      3 * SEGMENT_BYTES,
      5_000_000,
    ]) {
      expect(plainSize(storedSize(n))).toBe(n);
    }
    expect(plainSize(HEADER_BYTES + 3)).toBeUndefined();
  });

  it('seals bytes held whole and the same bytes streamed in any chunking alike, at every boundary', async () => {
    const key = { id: '0123456789abcdef', key: randomBytes(32) };
    const prefix = randomBytes(7);
    for (const n of [0, 5, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES]) {
      const plain = patternBytes(n, 9);
      const whole = sealBytes(key, prefix, plain);
      for (const chunk of [1000, SEGMENT_BYTES, 200_000]) {
        const pieces = Array.from({ length: Math.ceil(n / chunk) }, (_, i) =>
          plain.subarray(i * chunk, (i + 1) * chunk),
        );
        const streamed = await readAll(Readable.from(pieces).pipe(new SealStream(key, prefix)));
        expect(streamed.equals(whole), `${n} bytes in chunks of ${chunk}`).toBe(true);
      }
    }
  });

  it('leaves no byte of the plaintext, its path or its sha256 in the stored objects', async () => {
    const { root, target } = await sealedFs();
    const secret = Buffer.from('quarterly-results: revenue 12,345,678 EUR\n'.repeat(50));
    const sha = sha256Hex(secret);
    await put(target, blobKey(sha), secret);
    await put(
      target,
      'hosts/web-01/20261208/manifest.json',
      Buffer.from('{"files":["/srv/finance/q4.xlsx"]}'),
    );
    const stored: Buffer[] = [];
    for await (const o of listAll(new FsTarget({ name: 'raw', root }), '')) {
      expect(o.key).not.toContain(sha);
      stored.push(await readFile(join(root, o.key)));
    }
    const all = Buffer.concat(stored);
    for (const needle of [
      'quarterly-results',
      'revenue',
      '/srv/finance',
      sha,
      Buffer.from(sha, 'hex').toString('latin1'),
    ]) {
      expect(all.includes(Buffer.from(needle, 'latin1')), needle).toBe(false);
    }
    expect(await readAll(await target.get(blobKey(sha)))).toEqual(secret);
    await rm(root, { recursive: true, force: true });
  });

  it('reads ranges across segments, and finds a flipped byte as a corrupt object, whole or in part', async () => {
    const { root, inner, target } = await sealedFs();
    const bytes = patternBytes(3 * SEGMENT_BYTES + 100, 3);
    await put(target, 'packs/aa/x', bytes);
    const range = await readAll(
      await target.get('packs/aa/x', { start: SEGMENT_BYTES - 10, end: 2 * SEGMENT_BYTES + 5 }),
    );
    expect(range).toEqual(bytes.subarray(SEGMENT_BYTES - 10, 2 * SEGMENT_BYTES + 6));
    const path = join(root, 'packs/aa/x');
    const raw = await readFile(path);
    raw[HEADER_BYTES + SEGMENT_BYTES + 40] = (raw[HEADER_BYTES + SEGMENT_BYTES + 40] ?? 0) ^ 1;
    await writeFile(path, raw);
    await expect(readAll(await target.get('packs/aa/x'))).rejects.toBeInstanceOf(CorruptObjectError);
    await expect(
      target.get('packs/aa/x', { start: SEGMENT_BYTES + 1, end: SEGMENT_BYTES + 2 }),
    ).rejects.toBeInstanceOf(CorruptObjectError);
    // The first segment is untouched and still reads.
    expect(await readAll(await target.get('packs/aa/x', { start: 0, end: 9 }))).toEqual(
      bytes.subarray(0, 10),
    );
    // A stored object cut at a segment boundary lacks its last segment: refused too.
    await inner.put('packs/aa/cut', raw.subarray(0, HEADER_BYTES + SEGMENT_BYTES + 16), {
      sha256: sha256Hex(raw.subarray(0, HEADER_BYTES + SEGMENT_BYTES + 16)),
    });
    await expect(readAll(await target.get('packs/aa/cut'))).rejects.toBeInstanceOf(CorruptObjectError);
    await rm(root, { recursive: true, force: true });
  });

  it('reads a range of a pack put again by another process (a new header) right, not as rot', async () => {
    const { root, inner, store, target } = await sealedFs();
    const bytes = patternBytes(2 * SEGMENT_BYTES + 7, 5);
    const key = `packs/ab/${'ab'.repeat(32)}`;
    await put(target, key, bytes);
    expect(await readAll(await target.get(key, { start: 5, end: 9 }))).toEqual(bytes.subarray(5, 10));
    // Another process deletes the pack and puts the same bytes again: a new nonce prefix.
    const other = new SealedTarget(inner, new SealingKeys(store, masters('k1', K1)));
    await other.delete(key);
    await put(other, key, bytes);
    const range = { start: SEGMENT_BYTES + 3, end: SEGMENT_BYTES + 40 };
    expect(await readAll(await target.get(key, range))).toEqual(bytes.subarray(range.start, range.end + 1));
    await rm(root, { recursive: true, force: true });
  });

  it('opens with only the bucket and the encryption key, after a rotation too', async () => {
    const { root, inner, target, store } = await sealedFs();
    const bytes = Buffer.from('kept for years');
    await put(target, 'hosts/h/k/manifest.json', bytes);
    // Rotation: k2 is the current key, k1 kept for reading; the data key is wrapped again.
    const rotated = new SealedTarget(inner, new SealingKeys(store, masters('k2', K2, K1)));
    await put(rotated, 'hosts/h/k2/manifest.json', Buffer.from('after the rotation'));
    expect(store.rows.map((r) => r.wrappedBy).sort()).toEqual(['k1', 'k2']);
    // No catalog, only k2: the bucket's own wrapping opens both objects.
    const bucketOnly = new SealedTarget(inner, new SealingKeys(null, masters('k2', K2)));
    expect(await readAll(await bucketOnly.get('hosts/h/k/manifest.json'))).toEqual(bytes);
    // A blob stored on its own is found by its keyed name from the bucket's data key too.
    await put(rotated, blobKey(sha256Hex(bytes)), bytes);
    expect(await readAll(await bucketOnly.get(blobKey(sha256Hex(bytes))))).toEqual(bytes);
    // The wrong key opens nothing, and says which keys would.
    const wrong = new SealedTarget(inner, new SealingKeys(null, masters('k3', ['k3', randomBytes(32)])));
    await expect(readAll(await wrong.get('hosts/h/k/manifest.json'))).rejects.toThrow(
      /wrapped by encryption key\(s\) k1, k2/,
    );
    void target;
    await rm(root, { recursive: true, force: true });
  });
});
