import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternBytes, tempDir } from '../test-helpers.ts';
import { FileSink } from './content.ts';
import { boundaryOf, receiveMultipart } from './multipart.ts';

let dir: string;
let remove: () => Promise<void>;
beforeAll(async () => {
  ({ dir, remove } = await tempDir('multipart'));
});
afterAll(() => remove());

function body(boundary: string, meta: string, media: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/json\r\n\r\n${meta}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Type: image/png\r\n\r\n`),
    media,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

async function* pieces(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('receiveMultipart', () => {
  // Media that contains most of the delimiter, so a naive split would cut it short.
  const media = Buffer.concat([patternBytes(5000, 3), Buffer.from('\r\n--abc'), patternBytes(3000, 4)]);
  const raw = body('abcdef', '{"name":"x/y","metadata":{"k":"v"}}', media);

  for (const size of [1, 7, 4096, raw.length]) {
    it(`splits metadata from media across ${size}-byte network chunks`, async () => {
      const file = join(dir, `media-${size}`);
      const sink = await FileSink.open(file);
      const result = await receiveMultipart(pieces(raw, size), 'abcdef', sink);
      await sink.close();
      expect(result.metadata).toEqual({ name: 'x/y', metadata: { k: 'v' } });
      expect(result.mediaType).toBe('image/png');
      expect(await readFile(file)).toEqual(media);
      expect(sink.hasher.size).toBe(media.length);
    });
  }

  it('rejects a body cut off before the closing delimiter', async () => {
    const sink = await FileSink.open(join(dir, 'cut'));
    await expect(
      receiveMultipart(pieces(raw.subarray(0, raw.length - 20), 100), 'abcdef', sink),
    ).rejects.toThrow(/incomplete/);
    await sink.close();
  });

  it('reads quoted and bare boundaries', () => {
    expect(boundaryOf('multipart/related; boundary="a b"')).toBe('a b');
    expect(boundaryOf('multipart/related; boundary=xyz')).toBe('xyz');
    expect(() => boundaryOf('application/json')).toThrow();
  });
});
