import type { ChainSegment } from '@fleet-backup/db';
import { applySegments, type Listing, parseSegment } from '@fleet-backup/storage';
import { describe, expect, it } from 'vitest';
import { extendChain, MAX_CHAIN } from './listing-chain.ts';

const sha = (n: number) => n.toString(16).padStart(64, '0');
const where = { target: 't', key: 'k' };

/** A tree of `count` files, file i holding content `versions[i] ?? 0`. */
function tree(count: number, versions: Record<number, number> = {}): Listing {
  const files: Listing['files'] = {};
  for (let i = 0; i < count; i++)
    files[`srv/f${i}`] = { path: `srv/f${i}`, size: i, sha256: sha(i * 1000 + (versions[i] ?? 0)) };
  return { files, nodes: {} };
}

const resolve = (chain: ChainSegment[]) =>
  applySegments(
    chain.map((s) => parseSegment(s.bytes, s.sha256, where)),
    where,
  );

describe('listing chains', () => {
  it('starts full, adds only the changes of each backup, and reuses the chain when nothing changed', async () => {
    const first = await extendChain([], tree(500));
    expect(first.map((s) => s.full)).toEqual([true]);
    const second = await extendChain(first, tree(500, { 7: 1 }));
    expect(second.map((s) => s.full)).toEqual([true, false]);
    expect(second[0]).toBe(first[0]);
    // One changed file of 500: its delta is a small fraction of the full listing.
    expect(second[1]!.bytes.length * 20).toBeLessThan(first[0]!.bytes.length);
    expect(resolve(second)).toEqual(tree(500, { 7: 1 }));
    expect(await extendChain(second, tree(500, { 7: 1 }))).toBe(second);
  });

  it('starts a new full listing when the changes outweigh half of it, or the chain is long', async () => {
    const first = await extendChain([], tree(100));
    const churned = await extendChain(
      first,
      tree(100, Object.fromEntries([...Array(60).keys()].map((i) => [i, 1]))),
    );
    expect(churned.map((s) => s.full)).toEqual([true]);
    let chain = first;
    for (let day = 1; chain.length < MAX_CHAIN; day++)
      chain = await extendChain(chain, tree(1000, { [day]: day }));
    const next = await extendChain(chain, tree(1000, { 999: 1 }));
    expect(next.map((s) => s.full)).toEqual([true]);
    expect(resolve(next)).toEqual(tree(1000, { 999: 1 }));
  });
});
