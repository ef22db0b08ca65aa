import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogFormat } from './load.ts';
import { secretScrubber } from './secret-values.ts';

const require = createRequire(import.meta.url);

/** Keys whose values are never logged, wherever they appear in a log object. */
const REDACT = [
  '*.password',
  '*.secret',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.token',
  '*.authorization',
  '*.credentials',
  '*.boardAdminPassword',
  '*.boardViewerPassword',
  // The raw key settings, should an environment ever be logged (a Keyring prints its ids only).
  '*.ENCRYPTION_KEY',
  '*.ENCRYPTION_OLD_KEYS',
  'config.targets[*].options',
  'options',
];

export interface LoggerOptions {
  /**
   * Values removed from every line wherever they appear (secretValues(config)): keys only go so
   * far. A function is asked on every line, for a list that grows with a new configuration version.
   */
  secrets?: readonly string[] | (() => readonly string[]);
  /** Human-readable colored lines (pino-pretty) instead of JSON; default FLEET_BACKUP_DEV=1. */
  pretty?: boolean;
  /** Where lines go; default stderr. */
  destination?: DestinationStream;
}

/**
 * Whether a process's log lines are pretty-printed: as LOG_FORMAT says, and for `auto` when
 * stderr is a terminal (a person reads it: `npm start`) or FLEET_BACKUP_DEV=1 says so. A pipe, a
 * file, systemd's journal or a container's log collector gets JSON, one object per line.
 */
export function prettyLogs(format: LogFormat, terminal: boolean, env = process.env): boolean {
  if (format !== 'auto') return format === 'pretty';
  return terminal || /^(1|true)$/i.test(env.FLEET_BACKUP_DEV ?? '');
}

/** JSON logs to stderr, so stdout stays clean for CLI output and --json. */
export function createLogger(level: string, name: string, opts: LoggerOptions = {}): Logger {
  const pretty = opts.pretty ?? prettyLogs('auto', false);
  // A stream, not a transport: transports load files by path in a worker thread, which the
  // production bundle does not carry. Loaded lazily, so production processes never pay for it.
  const out: DestinationStream = pretty
    ? require('pino-pretty')({ destination: opts.destination ?? 2, sync: true })
    : (opts.destination ?? pino.destination(2));
  const secrets = opts.secrets ?? [];
  const list = typeof secrets === 'function' ? secrets : () => secrets;
  let scrubbing = list();
  let scrub = secretScrubber(scrubbing);
  const destination: DestinationStream = {
    write: (line) => {
      if (list() !== scrubbing) {
        scrubbing = list();
        scrub = secretScrubber(scrubbing);
      }
      out.write(scrub(line));
    },
  };
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
}

export type { Logger };
