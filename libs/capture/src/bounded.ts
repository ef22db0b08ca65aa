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
