import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BlobPlace, FsTarget, PackBuilder, putPack } from '@fleet-backup/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACK_GONE } from './blob-read.ts';
import { type BlobToRead, confirmPresent, readBlobsBack } from './blob-reads.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A repack moves blobs to a new pack and, with a short grace period, gc deletes the old one while
 * a verify that looked the blobs up before the move is still reading: it must read them where they
 * are now, not call them missing.
 */
describe('reading blobs whose pack went while they were read', () => {
  let dir: string;
  let target: FsTarget;
  const blobs = Array.from({ length: 10 }, () => randomBytes(300));
  const stale = new Map<string, BlobPlace>();
  const now = new Map<string, BlobPlace | null>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'blob-reads-'));
    target = new FsTarget({ name: 'second', root: dir });
    // The pack they were in (never stored: gc deleted it) and the one the repack wrote.
    for (const [places, store] of [
      [stale, false],
      [now, true],
    ] as const) {
      const builder = new PackBuilder(Number.MAX_SAFE_INTEGER);
      if (!store) builder.add(sha(Buffer.from('a blob only the old pack had')), Buffer.from('x'));
      for (const b of blobs) builder.add(sha(b), b);
      const pack = builder.take();
      if (store) await putPack(target, pack);
      for (const e of pack.entries) places.set(e.sha256, { pack: pack.sha256, ...e });
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const wanted = (n: number): BlobToRead[] =>
    blobs.slice(0, n).map((b) => ({ blob: { sha256: sha(b), size: b.length }, place: stale.get(sha(b)) }));
  const placesNow = async (shas: string[]) =>
    new Map(shas.flatMap((s) => (now.has(s) ? [[s, now.get(s) ?? null] as const] : [])));

  async function problems(
    run: typeof readBlobsBack,
    n: number,
    opts: Parameters<typeof readBlobsBack>[4],
  ): Promise<(string | null)[]> {
    const out: (string | null)[] = [];
    await run(target, wanted(n), 4, (_blob, problem) => void out.push(problem), opts);
    return out;
  }

  // 3 blobs are read a range each, 10 as one whole-pack read.
  for (const n of [3, 10]) {
    it(`reads ${n} moved blobs where they are now`, async () => {
      expect(await problems(readBlobsBack, n, { placesNow })).toEqual(Array(n).fill(null));
      expect(await problems(readBlobsBack, n, {})).toEqual(Array(n).fill(PACK_GONE));
    });
  }

  it('confirms moved blobs present where they are now', async () => {
    expect(await problems(confirmPresent, 3, { placesNow })).toEqual(Array(3).fill(null));
  });

  it('reports a blob missing when its place has not changed, or it has none any more', async () => {
    expect(
      await problems(readBlobsBack, 3, { placesNow: async (s) => new Map(s.map((x) => [x, stale.get(x)!])) }),
    ).toEqual(Array(3).fill(PACK_GONE));
    expect(await problems(readBlobsBack, 3, { placesNow: async () => new Map() })).toEqual(
      Array(3).fill(PACK_GONE),
    );
  });
});
