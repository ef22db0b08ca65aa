/**
 * Runs `each` over `items` with at most `limit` in flight, taking them in order. After the first
 * failure no new item starts; it waits for those in flight (so nothing is still writing when the
 * caller cleans up) and then throws that failure.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  each: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        await each(items[i] as T, i);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
}

/** How long synchronous work may hold the event loop before giving it a turn. */
const SLICE_MS = 10;

/**
 * Lets a loop of cheap synchronous calls (an lstat per entry of a walk) give the event loop a turn
 * every SLICE_MS: a thread-pool hop per call would cost more than the call, but a tree of a million
 * entries must not starve the job's lock renewal and progress.
 */
export class TimeSlice {
  private since = performance.now();
  async pass(): Promise<void> {
    if (performance.now() - this.since < SLICE_MS) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.since = performance.now();
  }
}
