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
