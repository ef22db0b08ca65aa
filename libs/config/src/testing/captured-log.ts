import type { DestinationStream } from 'pino';
import { createLogger, type Logger } from '../logger.ts';

export interface CapturedLog {
  log: Logger;
  /** Every line written, as JSON text. */
  lines: string[];
}

/**
 * A logger for roles a test runs in its own process. Their expected failures (a stage failed for
 * good, rot found) wrote JSON lines with stack traces into the output of a green `npm test`. Here
 * lines are kept, for assertions, and printed only with TEST_LOGS=1, to follow a failing test.
 */
export function capturedLog(name: string, level = 'info'): CapturedLog {
  const lines: string[] = [];
  const shown = /^(1|true)$/i.test(process.env.TEST_LOGS ?? '');
  const destination: DestinationStream = {
    write: (line) => {
      lines.push(line);
      if (shown) process.stderr.write(line);
    },
  };
  return { log: createLogger(level, name, { destination }), lines };
}
