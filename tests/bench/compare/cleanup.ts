// A benchmark stopped with Ctrl-C must not leave its database, queue keys, processes or
// gigabytes of data behind: whatever is open is registered here and undone on SIGINT/SIGTERM.
const open = new Set<() => Promise<void>>();

/** Registers an undo step; returns the same step, run at most once, which unregisters itself. */
export function track(undo: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => {
    open.delete(once);
    done ??= undo();
    return done;
  };
  open.add(once);
  return once;
}

/** On SIGINT/SIGTERM: undo everything still open, newest first, then die of the same signal. */
export function undoOnSignal(log: (line: string) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, async () => {
      log(`${signal}: stopping the fleet-backup processes and removing the data…`);
      for (const undo of [...open].reverse()) await undo().catch(() => {});
      process.kill(process.pid, signal);
    });
  }
}
