import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyToTemp, readChunks, readSmallFile, tempPathIn } from './atomic-copy.ts';
import { buffersOut, LARGE_READ, SMALL_READ } from './buffer-pool.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the copy data path', () => {
  let dir: string;
  let big: Buffer;
  let bigPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-atomic-copy-'));
    // Not a whole number of chunks, so the last read is short.
    big = randomBytes(5 * LARGE_READ + 12_345);
    bigPath = path.join(dir, 'big.bin');
    await writeFile(bigPath, big);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads a multi-chunk file one chunk ahead, in order, and gives every buffer back', async () => {
    const handle = await open(bigPath, 'r');
    const seen: Buffer[] = [];
    try {
      await readChunks(handle, big.length, undefined, async (chunk) => {
        // While this chunk is being "written", the next one is read into the other buffer.
        await new Promise((r) => setTimeout(r, 1));
        seen.push(Buffer.from(chunk));
      });
    } finally {
      await handle.close();
    }
    expect(sha(Buffer.concat(seen))).toBe(sha(big));
    expect(buffersOut()).toEqual({ small: 0, large: 0, ahead: 0 });
  });

  it('reads without a second buffer once the read-ahead limit is reached, and never more than asked', async () => {
    const handles = await Promise.all(Array.from({ length: 12 }, () => open(bigPath, 'r')));
    let peakAhead = 0;
    const digests = await Promise.all(
      handles.map(async (handle) => {
        const hash = createHash('sha256');
        await readChunks(handle, 3 * LARGE_READ, undefined, async (chunk) => {
          peakAhead = Math.max(peakAhead, buffersOut().ahead);
          hash.update(chunk);
          await new Promise((r) => setTimeout(r, 2));
        });
        await handle.close();
        return hash.digest('hex');
      }),
    );
    expect(new Set(digests)).toEqual(new Set([sha(big.subarray(0, 3 * LARGE_READ))]));
    expect(peakAhead).toBeLessThanOrEqual(8);
    expect(buffersOut()).toEqual({ small: 0, large: 0, ahead: 0 });
  });

  it('stops at an abort between chunks, waits for the read in flight, and gives the buffers back', async () => {
    const handle = await open(bigPath, 'r');
    const abort = new AbortController();
    let chunks = 0;
    await expect(
      readChunks(handle, big.length, abort.signal, () => {
        if (++chunks === 2) abort.abort(new Error('stop'));
      }),
    ).rejects.toThrow('stop');
    await handle.close();
    expect(chunks).toBe(2);
    expect(buffersOut()).toEqual({ small: 0, large: 0, ahead: 0 });
  });

  it('copies a small file from the bytes already read, without reading it again', async () => {
    const small = randomBytes(3000);
    const src = path.join(dir, 'small.bin');
    await writeFile(src, small);
    const handle = await open(src, 'r');
    const read = await readSmallFile(handle, small.length);
    expect(read?.bytes.equals(small)).toBe(true);
    // The file changes after the read: the copy is of what was read (the caller's stat check notes the change).
    await writeFile(src, randomBytes(3000));
    const copied = await copyToTemp(
      { handle, size: small.length, label: src, ...(read && { bytes: read.bytes }) },
      dir,
      new AbortController().signal,
    );
    read?.release();
    await handle.close();
    expect(copied.sha256).toBe(sha(small));
    expect((await readFile(copied.tempPath)).equals(small)).toBe(true);
    expect(await readSmallFile(handle, SMALL_READ + 1)).toBeNull();
    expect(buffersOut()).toEqual({ small: 0, large: 0, ahead: 0 });
  });

  it('names temporary files uniquely without drawing random bytes for each', () => {
    const names = new Set(Array.from({ length: 10_000 }, () => tempPathIn(dir)));
    expect(names.size).toBe(10_000);
    for (const n of names) expect(path.basename(n)).toMatch(/^\.fbtmp-[0-9a-z]+-[0-9a-z]+$/);
  });
});
