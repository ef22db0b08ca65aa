import { createHash, randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { forEachLimited, systemClock } from '@fleet-backup/core';
import { BlobIndex } from '@fleet-backup/db';
import { FsTarget, readPackIndex, type StorageTarget } from '@fleet-backup/storage';
import { FaultyTarget } from '@fleet-backup/storage/testing/faulty';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Packer } from './replicate-packs.ts';

const services = await serviceUrls();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!services)('Packer', () => {
  let iso: Isolated;
  beforeAll(async () => {
    if (services) iso = await isolate(services, 'packer');
  });
  afterAll(async () => {
    await iso?.cleanup();
  });

  it('holds one pack uploading and one filling, however many lanes add while uploads are slow', async () => {
    const root = path.join(iso.dir, 'second');
    await mkdir(root);
    const fs = new FsTarget({ name: 'second', root });
    // Every put waits 50 ms before it stores: lanes keep adding meanwhile.
    const slow = new FaultyTarget(fs, {
      random: { seed: 1, rate: 1, faults: [{ type: 'delay', ms: 50 }], ops: ['put'] },
    });
    const packBytes = 40 * 1024;
    const packer = new Packer(slow, new BlobIndex(iso.pool, systemClock), packBytes);
    const blobs = Array.from({ length: 400 }, () => randomBytes(1024));
    let peak = 0;
    await forEachLimited(blobs, 8, async (b) => {
      await packer.add(sha(b), b);
      peak = Math.max(peak, packer.heldBytes);
    });
    await packer.flush();
    // Two packs (one uploading, one full and waiting), each with the blob that tipped it over its
    // size and its index (about 110 bytes a blob). Before, every lane could hold a full pack.
    expect(peak).toBeLessThanOrEqual(2 * (packBytes + 1024 + 41 * 128));
    expect(packer.heldBytes).toBe(0);
    // Every blob is in exactly one stored pack.
    const { objects } = await fs.list('packs/');
    const stored = new Set<string>();
    for (const o of objects) {
      const pack = path.basename(o.key);
      for (const e of await readPackIndex(fs, pack)) stored.add(e.sha256);
    }
    expect(stored).toEqual(new Set(blobs.map(sha)));
    expect(packer.packs).toBe(objects.length);
  });

  it('fills the same two Buffers pack after pack, and frees them once the last is stored', async () => {
    const root = path.join(iso.dir, 'second-reused');
    await mkdir(root);
    const fs = new FsTarget({ name: 'second-reused', root });
    const bodies: Buffer[] = [];
    const spy: StorageTarget = {
      name: fs.name,
      kind: fs.kind,
      offsite: fs.offsite,
      location: fs.location,
      put: async (key, body, opts) => {
        if (Buffer.isBuffer(body)) bodies.push(body);
        await fs.put(key, body, opts);
      },
      get: (key, range, signal) => fs.get(key, range, signal),
      head: (key) => fs.head(key),
      list: (prefix, opts) => fs.list(prefix, opts),
      delete: (key) => fs.delete(key),
    };
    const packer = new Packer(spy, new BlobIndex(iso.pool, systemClock), 16 * 1024);
    const blobs = Array.from({ length: 200 }, () => randomBytes(1000));
    await forEachLimited(blobs, 8, async (b) => {
      await packer.add(sha(b), b);
    });
    await packer.flush();
    expect(packer.packs).toBeGreaterThan(10);
    expect(bodies).toHaveLength(packer.packs);
    expect(new Set(bodies.map((b) => b.buffer)).size).toBeLessThanOrEqual(2);
    // Detached once stored: the memory went back at once, not at the next full collection.
    expect(bodies.every((b) => b.length === 0)).toBe(true);
    const stored = new Set<string>();
    for (const o of (await fs.list('packs/')).objects)
      for (const e of await readPackIndex(fs, path.basename(o.key))) stored.add(e.sha256);
    expect(stored).toEqual(new Set(blobs.map(sha)));
  });
});
