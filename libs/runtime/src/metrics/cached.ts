/**
 * Wraps an expensive read so that scrapes within ttlMs of each other (several gauges of one
 * scrape, or two Prometheus replicas) share one result, and concurrent callers share one call.
 */
export function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let loadedAt = Number.NEGATIVE_INFINITY;
  let value: Promise<T> | null = null;
  return () => {
    const now = performance.now();
    if (!value || now - loadedAt > ttlMs) {
      loadedAt = now;
      value = load();
    }
    return value;
  };
}
