import pino, { type Logger } from 'pino';

/** Keys whose values are never logged, wherever they appear in a log object. */
const REDACT = [
  '*.password',
  '*.secret',
  '*.secretAccessKey',
  '*.accessKeyId',
  '*.token',
  '*.authorization',
  '*.credentials',
  'config.targets[*].options',
  'options',
];

/** JSON logs to stderr, so stdout stays clean for CLI output and --json. */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));
}

export type { Logger };
