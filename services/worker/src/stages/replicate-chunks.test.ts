import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { systemClock } from '@fleet-backup/core';
import { BlobIndex, ChunkLists } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import { storedCopyStream } from '@fleet-backup/runtime';
import { FsTarget, IntegrityError } from '@fleet-backup/storage';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendChunked } from './replicate-chunks.ts';
import { Packer, Presence } from './replicate-packs.ts';

const services = await serviceUrls();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!services)('sendChunked', () => {
  let iso: Isolated;
  let rt: Runtime;
  const bytes = randomBytes(5 * 1024 * 1024);
  const file = { sha256: sha(bytes), size: bytes.length };
  let local: string;

  beforeAll(async () => {
    if (!services) return;
    iso = await isolate(services, 'send-chunked');
    // The parts of a runtime sendChunked uses: the catalog, through the real pool.
    rt = {
      pool: iso.pool,
      clock: systemClock,
      blobs: new BlobIndex(iso.pool, systemClock),
    } as unknown as Runtime;
    local = path.join(iso.dir, 'big.bin');
    await writeFile(local, bytes);
  });
  afterAll(async () => {
    await iso?.cleanup();
  });

  /** A file of `content` beside the test's, to send on its own. */
  async function another(name: string, content: Buffer) {
    const other = { file: { sha256: sha(content), size: content.length }, local: path.join(iso.dir, name) };
    await writeFile(other.local, content);
    return other;
  }

  const listOf = async (sha256: string) => (await new ChunkLists(iso.pool).of([sha256])).get(sha256)!;

  async function send(name: string, which = { file, local }) {
    const root = path.join(iso.dir, name);
    await mkdir(root, { recursive: true });
    const target = new FsTarget({ name, root });
    const packer = new Packer(target, rt.blobs, 16 * 1024 * 1024);
    const ctx = {
      rt,
      target,
      packer,
      presence: new Presence(target, rt.blobs),
      signal: new AbortController().signal,
    };
    const sent = await sendChunked(ctx, which.file, undefined, () =>
      storedCopyStream(which.local, which.file.size),
    );
    await packer.flush();
    return {
      sent,
      chunks: await rt.blobs.places(
        name,
        (await listOf(which.file.sha256)).map((c) => c.sha256),
      ),
    };
  }

  it('cuts a file for a second target where it was cut for the first, and sends the same chunks', async () => {
    const first = await send('one');
    const list = await listOf(file.sha256);
    expect(list.length).toBeGreaterThan(2);
    const second = await send('two');
    expect(second.sent).toBe(first.sent);
    expect(first.sent).toBe(bytes.length);
    // Every recorded chunk has a place on both targets.
    expect([...first.chunks.values()].every((p) => p && 'pack' in p)).toBe(true);
    expect([...second.chunks.values()].every((p) => p && 'pack' in p)).toBe(true);
  });

  it('looks chunks up a window at a time, not with queries for each chunk', async () => {
    const other = await another('fresh.bin', randomBytes(8 * 1024 * 1024));
    const query = iso.pool.query.bind(iso.pool);
    let queries = 0;
    iso.pool.query = ((...args: Parameters<typeof query>) => {
      queries++;
      return query(...args);
    }) as typeof iso.pool.query;
    try {
      await send('windows', other);
    } finally {
      iso.pool.query = query;
    }
    const chunks = (await listOf(other.file.sha256)).length;
    expect(chunks).toBeGreaterThan(32);
    // A lookup per chunk was four queries each (bad copies, places, chunk lists, their places).
    expect(queries).toBeLessThan(chunks / 2);
  });

  it('sends a chunk that repeats within a file once, and counts its bytes once', async () => {
    // Zeros cut into the same chunk again and again.
    const other = await another('zeros.bin', Buffer.alloc(6 * 1024 * 1024));
    const { sent, chunks } = await send('zeros', other);
    const list = await listOf(other.file.sha256);
    expect(list.length).toBeGreaterThan(8);
    expect(chunks.size).toBeLessThanOrEqual(2);
    const distinct = new Map(list.map((c) => [c.sha256, c.size]));
    expect(sent).toBe([...distinct.values()].reduce((a, b) => a + b, 0));
  });

  it('refuses a local copy whose bytes no longer match the recorded chunks, naming the chunk', async () => {
    const rotten = Buffer.from(bytes);
    rotten[3 * 1024 * 1024]! ^= 0x01;
    await writeFile(local, rotten);
    const attempt = send('three');
    await expect(attempt).rejects.toBeInstanceOf(IntegrityError);
    await expect(attempt).rejects.toThrow(
      /expected [0-9a-f]{64}, got chunk \d+ of \d+ hashing to [0-9a-f]{64}/,
    );
  });
});
