import { describe, expect, it } from 'vitest';
import { patternBytes, sha256Hex } from '../testing/data.ts';
import { type BuiltPack, PackBuilder } from './pack-builder.ts';
import {
  EMPTY_PACK_TRAILER_BYTES,
  type PackEntry,
  packEntryBytes,
  packTrailer,
  parsePackFooter,
} from './pack-format.ts';

/** A pack's bytes as the builder made them before it filled one Buffer: blobs, then packTrailer. */
function joined(blobs: Buffer[]): { bytes: Buffer; entries: PackEntry[] } {
  let offset = 0;
  const entries = blobs.map((b) => {
    const entry = { sha256: sha256Hex(b), offset, length: b.length };
    offset += b.length;
    return entry;
  });
  return { bytes: Buffer.concat([...blobs, packTrailer(entries)]), entries };
}

function expectPackOf(pack: BuiltPack, blobs: Buffer[]): void {
  const want = joined(blobs);
  expect(pack.bytes.equals(want.bytes)).toBe(true);
  expect(pack.entries).toEqual(want.entries);
  expect(pack.size).toBe(want.bytes.length);
  expect(pack.sha256).toBe(sha256Hex(want.bytes));
}

const blobsOf = (count: number, size: number, seed: number) =>
  Array.from({ length: count }, (_, i) => patternBytes(size + i, seed + i));

describe('PackBuilder', () => {
  it('builds the same bytes and sha256 as blobs joined with their trailer, in one Buffer', () => {
    const blobs = [Buffer.from('first blob'), Buffer.alloc(0), patternBytes(70_000, 7), Buffer.from('last')];
    const builder = new PackBuilder(1 << 20);
    for (const b of blobs) expect(builder.add(sha256Hex(b), b)).toBe(true);
    expect(builder.add(sha256Hex(blobs[0] as Buffer), blobs[0] as Buffer)).toBe(false);
    expectPackOf(builder.take(), blobs);
    expect(builder.count).toBe(0);
  });

  it('predicts its trailer to the byte, so a pack that fits never outgrows its target', () => {
    const entries: PackEntry[] = [];
    let predicted = EMPTY_PACK_TRAILER_BYTES;
    expect(packTrailer(entries).length).toBe(predicted);
    for (const [i, length] of [0, 9, 123_456, 7_000_000_000].entries()) {
      const entry = { sha256: sha256Hex(Buffer.from([i])), offset: i * 1_000_003, length };
      predicted += packEntryBytes(entry, entries.length === 0);
      entries.push(entry);
      expect(packTrailer(entries).length).toBe(predicted);
    }

    const target = 64 * 1024;
    const builder = new PackBuilder(target);
    const blobs: Buffer[] = [];
    for (const b of blobsOf(200, 1000, 1)) {
      if (!builder.fits(b.length)) break;
      builder.add(sha256Hex(b), b);
      blobs.push(b);
    }
    const pack = builder.take();
    expect(pack.size).toBeLessThanOrEqual(target);
    expect(pack.size).toBeGreaterThan(target - 1300);
    expect(parsePackFooter(pack.bytes.subarray(-16), pack.size, { target: 't', key: 'k' })).toBe(
      pack.size - 16 - blobs.reduce((sum, b) => sum + b.length, 0),
    );
    expectPackOf(pack, blobs);
  });

  it("starts small for gc's repack, whose target is unbounded, and grows as blobs come", () => {
    const builder = new PackBuilder(Number.MAX_SAFE_INTEGER);
    const few = blobsOf(3, 100, 50);
    for (const b of few) builder.add(sha256Hex(b), b);
    const small = builder.take();
    expectPackOf(small, few);
    expect(small.bytes.buffer.byteLength).toBeLessThanOrEqual(1 << 20);
    const many = blobsOf(40, 100_000, 60);
    for (const b of many) builder.add(sha256Hex(b), b);
    expectPackOf(builder.take(), many);
  });

  it('takes a blob past its target when told to, and a blob larger than the target alone', () => {
    const builder = new PackBuilder(4096);
    const small = blobsOf(3, 1000, 30);
    for (const b of small) builder.add(sha256Hex(b), b);
    const big = patternBytes(50_000, 40);
    expect(builder.fits(big.length)).toBe(false);
    builder.add(sha256Hex(big), big); // grows the Buffer, copying what it held
    expectPackOf(builder.take(), [...small, big]);
    expect(builder.fits(big.length)).toBe(true); // an empty pack takes anything
    builder.add(sha256Hex(big), big);
    expect(builder.full).toBe(true);
    expectPackOf(builder.take(), [big]);
  });

  it('fills a recycled Buffer again with the next pack, and frees the one it does not keep', () => {
    const builder = new PackBuilder(64 * 1024);
    const fill = (blobs: Buffer[]) => {
      for (const b of blobs) builder.add(sha256Hex(b), b);
      return builder.take();
    };
    const firstBlobs = blobsOf(20, 2000, 50);
    const first = fill(firstBlobs);
    expectPackOf(first, firstBlobs);
    const firstBuffer = first.bytes.buffer;
    builder.recycle(first);
    // Fewer, smaller blobs: nothing of the first pack may show through in the second.
    const secondBlobs = blobsOf(3, 100, 70);
    const second = fill(secondBlobs);
    expect(second.bytes.buffer).toBe(firstBuffer);
    expectPackOf(second, secondBlobs);

    const third = fill(blobsOf(2, 10, 90));
    expect(third.bytes.buffer).not.toBe(firstBuffer);
    builder.recycle(second);
    builder.recycle(third); // a spare is kept already: this one is freed (detached) at once
    expect(third.bytes.length).toBe(0);
    builder.releaseSpare();
    expect(second.bytes.length).toBe(0);
  });
});
