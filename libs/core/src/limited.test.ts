import { describe, expect, it } from 'vitest';
import { forEachLimited } from './limited.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('forEachLimited', () => {
  it('keeps at most `limit` calls in flight and visits every item once, with its index', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimited([5, 1, 4, 2, 3, 0, 6, 7], 3, async (item, index) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await tick(item);
      seen[index] = item;
      inFlight--;
    });
    expect(peak).toBe(3);
    expect(seen).toEqual([5, 1, 4, 2, 3, 0, 6, 7]);
  });

  it('stops new work at the first error, lets running calls finish, then throws that error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = forEachLimited([0, 1, 2, 3, 4, 5], 2, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('item 1 failed');
      await tick(20);
      finished.push(item);
    });
    await expect(run).rejects.toThrow('item 1 failed');
    // Item 0 was running when item 1 failed: it finished before the throw; nothing new began.
    expect(finished).toEqual([0]);
    expect(started).toEqual([0, 1]);
  });

  it('does nothing for no items', async () => {
    await forEachLimited([], 4, async () => {
      throw new Error('never called');
    });
  });
});
