import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  FsTarget,
  openBlob,
  PackBuilder,
  putPack,
  type ReadOnlyTarget,
  readOnly,
} from '@fleet-backup/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreFile } from './model.ts';
import { PackCache } from './pack-cache.ts';
import { restoreFiles } from './restore.ts';
import { targetSource } from './sources.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('PackCache: a restore reads each pack once', () => {
  let root: string;
  let target: ReadOnlyTarget;
  let gets: { key: string; ranged: boolean }[];

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'fb-pack-cache-'));
    const fs = new FsTarget({ name: 'second', root });
    gets = [];
    const plain = readOnly(fs);
    target = {
      ...plain,
      get: (key, range, signal) => {
        gets.push({ key, ranged: range !== undefined });
        return plain.get(key, range, signal);
      },
    };
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  async function pack(n: number) {
    const blobs = Array.from({ length: n }, () => randomBytes(3000));
    const builder = new PackBuilder(1 << 30);
    for (const b of blobs) builder.add(sha(b), b);
    const built = builder.take();
    await putPack(new FsTarget({ name: 'second', root }), built);
    const places = built.entries.map((e) => ({ pack: built.sha256, offset: e.offset, length: e.length }));
    return { blobs, places };
  }

  it('fetches a pack many blobs come from in one request, and serves every blob from it', async () => {
    const { blobs, places } = await pack(20);
    const view = new PackCache(target, places).view();
    for (const [i, place] of places.entries()) {
      const got = await readAll(await openBlob(view, sha(blobs[i]!), place));
      expect(got.equals(blobs[i]!)).toBe(true);
    }
    expect(gets).toEqual([{ key: expect.stringMatching(/^packs\//), ranged: false }]);
  });

  it('serves blobs that straddle the pieces the pack arrived in, byte for byte', async () => {
    // 40 blobs of 10,000 bytes arrive as 64 KiB pieces: many blobs span two of them.
    const blobs = Array.from({ length: 40 }, () => randomBytes(10_000));
    const builder = new PackBuilder(1 << 30);
    for (const b of blobs) builder.add(sha(b), b);
    const built = builder.take();
    await putPack(new FsTarget({ name: 'second', root }), built);
    const places = built.entries.map((e) => ({ pack: built.sha256, offset: e.offset, length: e.length }));
    const view = new PackCache(target, places).view();
    for (const [i, place] of places.entries())
      expect((await readAll(await openBlob(view, sha(blobs[i]!), place))).equals(blobs[i]!)).toBe(true);
    expect(gets).toHaveLength(1);
  });

  it('reads a pack few blobs come from as ranges', async () => {
    const { blobs, places } = await pack(20);
    const view = new PackCache(target, places.slice(0, 3)).view();
    for (const i of [0, 1, 2]) await readAll(await openBlob(view, sha(blobs[i]!), places[i]!));
    expect(gets.map((g) => g.ranged)).toEqual([true, true, true]);
  });

  it('fetches the next pack in reading order while one is read, never more than one ahead', async () => {
    const packs = await Promise.all(Array.from({ length: 3 }, () => pack(10)));
    const view = new PackCache(
      target,
      packs.flatMap((p) => p.places),
    ).view();
    const read = async (p: (typeof packs)[number], i: number) =>
      readAll(await openBlob(view, sha(p.blobs[i]!), p.places[i]!));
    const wholeGets = () => gets.filter((g) => !g.ranged).map((g) => g.key.split('/')[2]);
    const [a, b, c] = packs.map((p) => p.places[0]!.pack);
    await read(packs[0]!, 0);
    expect(wholeGets()).toEqual([a, b]);
    for (let i = 1; i < 10; i++) await read(packs[0]!, i);
    await read(packs[1]!, 0);
    expect(wholeGets()).toEqual([a, b, c]);
    for (let i = 1; i < 10; i++) await read(packs[1]!, i);
    for (let i = 0; i < 10; i++) expect((await read(packs[2]!, i)).equals(packs[2]!.blobs[i]!)).toBe(true);
    expect(gets.filter((g) => g.ranged)).toEqual([]);
  });

  it('has a restore of files spread over more packs than it holds read them pack by pack, each fetched once', async () => {
    // Six packs (more than the four a restore holds), their blobs interleaved in the files' order.
    const packs = await Promise.all(Array.from({ length: 6 }, () => pack(10)));
    const places = new Map(packs.flatMap((p) => p.blobs.map((b, i) => [sha(b), p.places[i]!] as const)));
    const bytes = new Map(packs.flatMap((p) => p.blobs.map((b) => [sha(b), b] as const)));
    const files: RestoreFile[] = Array.from({ length: 10 }, (_, i) => packs.map((p) => p.blobs[i]!))
      .flat()
      .map((b, n) => ({ path: `f${n}`, storedPath: `f${n}`, size: b.length, sha256: sha(b) }));
    const to = path.join(root, 'restored');
    const result = await restoreFiles(files, [targetSource(target, places, files)], {
      to,
      force: false,
      attributes: false,
      parallel: 8,
    });
    expect(result.files.map((f) => f.path)).toEqual(files.map((f) => f.path));
    for (const f of files)
      expect((await readAll(fs.createReadStream(path.join(to, f.path)))).equals(bytes.get(f.sha256)!)).toBe(
        true,
      );
    expect(gets.filter((g) => g.ranged)).toEqual([]);
    expect(gets.map((g) => g.key).sort()).toEqual(
      packs.map((p) => `packs/${p.places[0]!.pack.slice(0, 2)}/${p.places[0]!.pack}`).sort(),
    );
  });
});
