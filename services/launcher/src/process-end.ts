/**
 * How long a finished command may wait for a handle a library left open (a keep-alive socket, a
 * timer) before it ends anyway. Normally nothing is left and the process ends at once.
 */
const LINGER_MS = 2_000;

/**
 * Ends the process with `code` without cutting its output. `process.exit()` right after a write
 * to a pipe drops whatever the pipe has not taken yet, past the first 64 KiB, and still exits 0
 * (GUIDE §4). So the code is only set, and the process ends on its own once stdout and stderr are
 * flushed. Should a forgotten handle keep it alive, it ends after LINGER_MS, and then too only once
 * both streams are flushed.
 */
export function endProcess(code: number): void {
  process.exitCode = code;
  const linger = setTimeout(() => void flushed().then(() => process.exit(code)), LINGER_MS);
  linger.unref();
}

/**
 * A reader that goes away early (`fleet-backup list --json | head -1`) is not an error of the
 * command: stdout's EPIPE is ignored (what is left has nowhere to go), instead of crashing the
 * process with a stack trace. Any other stdout error still surfaces.
 */
export function ignoreClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

/** Resolves once everything written to stdout and stderr so far has been handed to the OS. */
function flushed(): Promise<void> {
  return Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => undefined);
}

function drain(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  // Write callbacks run in order: an empty write's runs once every earlier write is flushed.
  return new Promise((resolve) => stream.write('', () => resolve()));
}
