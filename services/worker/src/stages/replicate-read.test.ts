import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStored } from './replicate.ts';

describe('replicate reads each stored copy through a buffer its size', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-replicate-read-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('allocates a small file its size, not 1 MiB, and a large one 1 MiB chunks', async () => {
    const small = randomBytes(3000);
    await writeFile(path.join(dir, 'small'), small);
    await writeFile(path.join(dir, 'empty'), '');
    const stream = readStored(dir, { storedPath: 'small', size: small.length });
    expect(stream.readableHighWaterMark).toBe(3000);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(small)).toBe(true);
    // The backing store of what was read is the file's size: 20,000 of them are not 20 GB of garbage.
    expect(chunks[0]?.buffer.byteLength).toBeLessThanOrEqual(8192);
    expect(readStored(dir, { storedPath: 'empty', size: 0 }).readableHighWaterMark).toBe(1);
    expect(readStored(dir, { storedPath: 'small', size: 5 << 20 }).readableHighWaterMark).toBe(1 << 20);
  });
});
