import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Keeps a data-plane process's memory bounded while it streams gigabytes. Node frees a Buffer's
 * memory only when the garbage collector finds its small JS wrapper dead, and V8 starts a
 * collection for outside memory only after it has grown by about 64 MiB; streaming through
 * multipart uploads, that lag, not live data, is most of the peak RSS. This collects as soon as
 * Buffer memory has grown by `slackBytes` since the last collection, trading a few milliseconds
 * of GC per slack for a predictable ceiling. Growth is measured on the JS heap plus external
 * memory, since SDKs also build garbage on the heap (strings, request objects).
 *
 * Returns a stop function. `slackBytes` 0 disables it.
 */
export function startMemoryGovernor(slackBytes: number, intervalMs = 50): () => void {
  if (slackBytes <= 0) return () => {};
  const gc = exposeGc();
  let floor = collectable();
  const timer = setInterval(() => {
    if (collectable() - floor < slackBytes) return;
    gc();
    floor = collectable();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Memory a collection can give back: the JS heap plus memory held by Buffers and other externals. */
function collectable(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  // The flag applies to contexts created after it is set; a fresh context hands out `gc`.
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
