import { BadInputError, describeIssues, NotFoundFailure, PermanentFailure } from '@fleet-backup/core';

/** Exit codes: the one table, printed by `fleet-backup --help` and copied into the README. */
export const EXIT_CODES = [
  { name: 'ok', code: 0, meaning: 'ok (backup --wait: verified; with --check: verified and 3-2-1)' },
  {
    name: 'failed',
    code: 1,
    meaning:
      'failed: a backup failed, ended unverified or incomplete, or timed out; a restore did not match; verify found a copy bad or could not read it',
  },
  {
    name: 'usage',
    code: 2,
    meaning: 'usage or bad input: unknown command or flag, bad value, a refused request',
  },
  { name: 'notFound', code: 3, meaning: 'not found: no such backup, host or token' },
  { name: 'unsafe', code: 4, meaning: 'unsafe: not 3-2-1 (show --check, backup --wait --check)' },
  { name: 'unreachable', code: 5, meaning: 'unreachable service: Postgres or Redis is down' },
] as const;

type ExitName = (typeof EXIT_CODES)[number]['name'];

/** Exit codes by name, e.g. `EXIT.notFound`. */
export const EXIT = Object.fromEntries(EXIT_CODES.map((e) => [e.name, e.code])) as Record<ExitName, number>;

/** The exit code table as help text. */
export function exitCodesHelp(): string {
  return ['Exit codes:', ...EXIT_CODES.map((e) => `  ${e.code}  ${e.meaning}`)].join('\n');
}

/** An error that ends the command with a chosen exit code and a message for the operator. */
export class CliError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** Postgres or Redis cannot be reached: the operator fixes the service, not the command. */
export class UnreachableError extends CliError {
  constructor(service: string, where: string, cause: string) {
    super(`${service} at ${where} is unreachable (${cause}); is it running?`, EXIT.unreachable);
  }
}

// Node socket errors, and what the pg driver says when a connection cannot be made or is lost.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EAI_AGAIN',
]);
const CONNECTION_MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated (unexpectedly|due to connection timeout)/;
// Postgres refusing connections: shutting down, starting up, too many clients.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * Whether an error that reached the top is a service connection failure rather than the work
 * failing. Storage targets wrap their own network errors, so a bare socket error here comes
 * from Postgres (Redis commands never fail fast: see `watchRedis`).
 */
export function isConnectionFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code)))
    return true;
  if (err instanceof AggregateError) return err.errors.some(isConnectionFailure);
  return CONNECTION_MESSAGES.test(err.message);
}

/** Host and port of a service URL, never its user or password. */
export function serviceAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** A value Postgres refused (class 22: a NUL byte, a malformed number…): the input was bad, not the command. */
function isRefusedValue(e: Error): boolean {
  const code = (e as { code?: unknown }).code;
  return 'severity' in e && typeof code === 'string' && code.startsWith('22');
}

function isSchemaError(e: Error): e is Parameters<typeof describeIssues>[0] {
  return e.name === 'ZodError' && Array.isArray((e as { issues?: unknown }).issues);
}

/** An operating system error (EACCES, ENOSPC, ENOENT…): its message names the file; a stack would add nothing. */
function isSystemError(e: Error): boolean {
  return typeof (e as { syscall?: unknown }).syscall === 'string';
}

/** Maps any error to its exit code and prints it on stderr (never a stack for expected failures). */
export function reportError(err: unknown): number {
  const raw = err instanceof Error ? err : new Error(String(err));
  // A schema a library parsed with (zod): the input was bad, and the issues name the field.
  const e = isSchemaError(raw) ? new BadInputError(describeIssues(raw)) : raw;
  const code =
    e instanceof CliError
      ? e.code
      : e instanceof NotFoundFailure
        ? EXIT.notFound
        : e instanceof BadInputError || isRefusedValue(e)
          ? EXIT.usage
          : isConnectionFailure(e)
            ? EXIT.unreachable
            : EXIT.failed;
  const expected =
    e instanceof CliError ||
    e instanceof PermanentFailure ||
    code === EXIT.unreachable ||
    code === EXIT.usage ||
    isSystemError(e) ||
    (e as { transient?: unknown }).transient !== undefined;
  process.stderr.write(`fleet-backup: ${expected ? describe(e) : (e.stack ?? e.message)}\n`);
  return code;
}

/** The message of an error for people. */
export function describe(e: Error): string {
  // AggregateError (connecting to both ::1 and 127.0.0.1) has an empty message of its own.
  if (e instanceof AggregateError && !e.message)
    return e.errors.map((x) => String(x?.message ?? x)).join('; ');
  return e.message;
}

/** Prints a value as one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
