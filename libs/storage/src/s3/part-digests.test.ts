import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { patternBytes } from '../testing/data.ts';
import { PartDigests, partChecksumOf, sha256HexFromS3 } from './part-digests.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest();

async function expectedFor(data: Buffer, partSize: number, pieces = 777): Promise<string> {
  const digests = new PartDigests(partSize);
  const chunks = [];
  for (let i = 0; i < data.length; i += pieces) chunks.push(data.subarray(i, i + pieces));
  await pipeline(Readable.from(chunks), digests, new Writable({ write: (_c, _e, done) => done() }));
  return digests.expected();
}

describe('PartDigests', () => {
  it('gives the plain SHA-256 for an object that fits one part (a single PUT)', async () => {
    const data = patternBytes(5000, 1);
    expect(await expectedFor(data, 5000)).toBe(sha(data).toString('base64'));
    expect(await expectedFor(Buffer.alloc(0), 5000)).toBe(sha(Buffer.alloc(0)).toString('base64'));
  });

  it('gives the composite checksum of partSize slices for a multipart upload', async () => {
    const data = patternBytes(12_001, 2);
    const parts = [data.subarray(0, 5000), data.subarray(5000, 10_000), data.subarray(10_000)];
    const composite = sha(Buffer.concat(parts.map(sha))).toString('base64');
    expect(await expectedFor(data, 5000)).toBe(`${composite}-3`);
    // An exact multiple of the part size has no empty trailing part.
    const even = data.subarray(0, 10_000);
    const two = sha(Buffer.concat([sha(even.subarray(0, 5000)), sha(even.subarray(5000))])).toString(
      'base64',
    );
    expect(await expectedFor(even, 5000, 5000)).toBe(`${two}-2`);
  });

  it('gives a Buffer held whole the checksum its stream would have, cut as lib-storage slices it', async () => {
    const data = patternBytes(12_001, 3);
    for (const size of [0, 4999, 5000, 5001, 10_000, 12_001])
      expect(partChecksumOf(data.subarray(0, size), 5000)).toBe(
        await expectedFor(data.subarray(0, size), 5000),
      );
  });

  it('turns a full-object S3 checksum into hex and ignores composite ones', () => {
    const digest = sha(Buffer.from('x'));
    expect(sha256HexFromS3(digest.toString('base64'))).toBe(digest.toString('hex'));
    expect(sha256HexFromS3(`${digest.toString('base64')}-3`)).toBeUndefined();
    expect(sha256HexFromS3(undefined)).toBeUndefined();
  });
});
