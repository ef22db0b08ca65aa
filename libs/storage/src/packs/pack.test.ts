import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError } from '../errors.ts';
import { FsTarget } from '../fs-target.ts';
import { packKey, parsePackKey } from '../layout.ts';
import type { ReadOnlyTarget } from '../target.ts';
import { readAll, sha256Hex } from '../testing/data.ts';
import { PackBuilder, putPack } from './pack-builder.ts';
import { PACK_FORMAT, type PackEntry, packTrailer, parsePackIndex } from './pack-format.ts';
import { type BlobRead, indexPacks, openBlob, readPackBlobs, readPackIndex } from './pack-read.ts';

const blobs = [Buffer.from('first blob'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
const where = { target: 't', key: 'packs/aa/x' };

describe('packs', () => {
  let root: string;
  let target: FsTarget;
  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fleet-backup-pack-'));
    target = new FsTarget({ name: 'second', root });
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function written() {
    const builder = new PackBuilder(1 << 20);
    for (const b of blobs) builder.add(sha256Hex(b), b);
    builder.add(sha256Hex(blobs[0] as Buffer), blobs[0] as Buffer);
    const pack = builder.take();
    await putPack(target, pack);
    return pack;
  }

  it('stores blobs under the sha256 of the whole pack, with an index that reads back', async () => {
    const pack = await written();
    expect(pack.entries).toHaveLength(blobs.length);
    expect(parsePackKey(packKey(pack.sha256))).toBe(pack.sha256);
    const bytes = await readFile(path.join(root, packKey(pack.sha256)));
    expect(sha256Hex(bytes)).toBe(pack.sha256);
    expect(await readPackIndex(target, pack.sha256)).toEqual(pack.entries);
    for (const [i, e] of pack.entries.entries()) {
      const got = await readAll(await openBlob(target, e.sha256, { pack: pack.sha256, ...e }));
      expect(got.equals(blobs[i] as Buffer)).toBe(true);
    }
    await putPack(target, pack); // a second upload of the same pack is a no-op
  });

  it('reads a pack whole once, hashing each wanted blob, and names one cut short', async () => {
    const pack = await written();
    const seen: BlobRead[] = [];
    const whole = await readPackBlobs(target, pack.sha256, pack.entries.slice(1), (r) => seen.push(r));
    expect(whole.sha256).toBe(pack.sha256);
    expect(seen.map((r) => r.sha256)).toEqual(pack.entries.slice(1).map((e) => e.sha256));

    await truncate(path.join(root, packKey(pack.sha256)), 100);
    const cut: BlobRead[] = [];
    await readPackBlobs(target, pack.sha256, pack.entries, (r) => cut.push(r));
    expect(cut.map((r) => r.sha256 === r.entry.sha256)).toEqual([true, true, false, false]);
    expect(cut[3]?.sha256).toBeNull();
  });

  it('finds a flipped byte inside one blob of a pack, and only that blob', async () => {
    const pack = await written();
    const file = path.join(root, packKey(pack.sha256));
    const bytes = await readFile(file);
    const third = pack.entries[2];
    if (!third) throw new Error('no third entry');
    bytes.writeUInt8((bytes.readUInt8(third.offset + 5) ^ 0xff) & 0xff, third.offset + 5);
    await writeFile(file, bytes);
    const reads: BlobRead[] = [];
    const whole = await readPackBlobs(target, pack.sha256, pack.entries, (r) => reads.push(r));
    expect(whole.sha256).not.toBe(pack.sha256);
    expect(reads.filter((r) => r.sha256 !== r.entry.sha256).map((r) => r.entry)).toEqual([third]);
  });

  it('reads a chunked blob as its chunks in order, fetching a few ahead', async () => {
    const chunks = Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000 + i, i));
    const builder = new PackBuilder(1 << 20);
    for (const c of chunks.slice(0, 7)) builder.add(sha256Hex(c), c);
    const pack = builder.take();
    await putPack(target, pack);
    // The last three chunks are objects of their own (a repair put them back that way).
    for (const c of chunks.slice(7))
      await target.put(`blobs/sha256/${sha256Hex(c).slice(0, 2)}/${sha256Hex(c)}`, Readable.from([c]), {
        sha256: sha256Hex(c),
        size: c.length,
      });
    const place = {
      chunks: chunks.map((c, i) => ({
        sha256: sha256Hex(c),
        length: c.length,
        place: i < 7 ? { pack: pack.sha256, ...(pack.entries[i] as PackEntry) } : null,
      })),
    };
    const whole = Buffer.concat(chunks);
    expect((await readAll(await openBlob(target, sha256Hex(whole), place))).equals(whole)).toBe(true);
  });

  it('indexes only the blobs wanted, and stops reading indexes once every one is found', async () => {
    const packs = [];
    for (const fill of [1, 2, 3]) {
      const builder = new PackBuilder(1 << 20);
      for (const b of [Buffer.alloc(100, fill), Buffer.alloc(200, fill)]) builder.add(sha256Hex(b), b);
      const pack = builder.take();
      await putPack(target, pack);
      packs.push(pack);
    }
    expect((await indexPacks(target)).size).toBe(6);
    const read: string[] = [];
    let heads = 0;
    const counted: ReadOnlyTarget = {
      name: target.name,
      kind: target.kind,
      offsite: target.offsite,
      location: target.location,
      get: (key, range, signal) => {
        read.push(key);
        return target.get(key, range, signal);
      },
      head: (key) => {
        heads++;
        return target.head(key);
      },
      list: (prefix, opts) => target.list(prefix, opts),
    };
    // Packs are listed in key order: the first one listed holds every blob wanted.
    const first = packs.sort((a, b) => (a.sha256 < b.sha256 ? -1 : 1))[0]!;
    const wanted = new Set(first.entries.map((e) => e.sha256));
    const places = await indexPacks(counted, { parallel: 1, wanted });
    expect([...places.keys()].sort()).toEqual([...wanted].sort());
    expect(new Set(read)).toEqual(new Set([packKey(first.sha256)]));
    expect(heads).toBe(0); // the listing gave each pack's size
    // A blob no pack holds (its own object) keeps the scan going to the end.
    read.length = 0;
    const more = await indexPacks(counted, {
      parallel: 1,
      wanted: new Set([...wanted, sha256Hex(Buffer.from('elsewhere'))]),
    });
    expect(more.size).toBe(2);
    expect(new Set(read).size).toBe(3);

    // A pack whose index rotted is skipped and named; the other packs' blobs are still found.
    const rotten = packs[1]!;
    const file = path.join(root, packKey(rotten.sha256));
    const bytes = await readFile(file);
    bytes[bytes.length - 20]! ^= 0xff; // inside the index JSON
    await writeFile(file, bytes);
    const skipped: string[] = [];
    const rest = await indexPacks(target, { onUnreadable: (pack) => skipped.push(pack) });
    expect(skipped).toEqual([rotten.sha256]);
    expect(rest.size).toBe(4);
    expect(rotten.entries.some((e) => rest.has(e.sha256))).toBe(false);
  });

  it('refuses an index that is hostile or corrupt', () => {
    const sha = 'a'.repeat(64);
    const index = (blobList: unknown, format = PACK_FORMAT) =>
      Buffer.from(JSON.stringify({ format, blobs: blobList }));
    const bad: [Buffer, number, RegExp][] = [
      [Buffer.from('{'), 10, /not JSON/],
      [index([], 'other'), 10, /unknown format/],
      [index([{ sha256: sha, offset: 0, length: 11 }]), 10, /outside/],
      [index([{ sha256: sha, offset: -1, length: 1 }]), 10, /malformed/],
      [index([{ sha256: 'A'.repeat(64), offset: 0, length: 1 }]), 10, /malformed/],
      [index([{ sha256: sha, offset: 0, length: 1, extra: 1 }]), 10, /malformed/],
      [
        index([
          { sha256: sha, offset: 0, length: 4 },
          { sha256: 'b'.repeat(64), offset: 2, length: 2 },
        ]),
        10,
        /outside/,
      ],
      [
        index([
          { sha256: sha, offset: 0, length: 1 },
          { sha256: sha, offset: 1, length: 1 },
        ]),
        10,
        /twice/,
      ],
    ];
    for (const [bytes, dataBytes, message] of bad) {
      expect(() => parsePackIndex(bytes, dataBytes, where)).toThrow(message);
    }
    const trailer = packTrailer([{ sha256: sha, offset: 0, length: 3 }]);
    expect(parsePackIndex(trailer.subarray(0, -16), 3, where)).toHaveLength(1);
  });

  it('refuses a pack whose footer is wrong or claims more than the pack', async () => {
    const pack = await written();
    const file = path.join(root, packKey(pack.sha256));
    const bytes = await readFile(file);
    bytes.writeBigUInt64BE(BigInt(bytes.length), bytes.length - 8);
    await writeFile(file, bytes);
    await expect(readPackIndex(target, pack.sha256)).rejects.toThrow(/does not fit/);
    bytes.write('XXXXXXXX', bytes.length - 16, 'latin1');
    await writeFile(file, bytes);
    await expect(readPackIndex(target, pack.sha256)).rejects.toBeInstanceOf(PermanentError);
  });
});
