import { createHash, randomBytes } from 'node:crypto';
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
import { PackCache } from './pack-cache.ts';

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

  it('reads a pack few blobs come from as ranges', async () => {
    const { blobs, places } = await pack(20);
    const view = new PackCache(target, places.slice(0, 3)).view();
    for (const i of [0, 1, 2]) await readAll(await openBlob(view, sha(blobs[i]!), places[i]!));
    expect(gets.map((g) => g.ranged)).toEqual([true, true, true]);
  });
});
