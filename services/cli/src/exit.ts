import { BadInputError, NotFoundFailure, PermanentFailure } from '@fleet-backup/core';

/** Exit codes, documented in the README. */
export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3 } as const;

/** An error that ends the command with a chosen exit code and a message for the operator. */
export class CliError extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

/** Maps any error to its exit code and prints it on stderr (never a stack for expected failures). */
export function reportError(err: unknown): number {
  const e = err instanceof Error ? err : new Error(String(err));
  const code =
    e instanceof CliError
      ? e.code
      : e instanceof NotFoundFailure
        ? EXIT.notFound
        : e instanceof BadInputError
          ? EXIT.usage
          : EXIT.failed;
  const expected =
    e instanceof CliError ||
    e instanceof PermanentFailure ||
    (e as { transient?: unknown }).transient !== undefined;
  process.stderr.write(`fleet-backup: ${expected ? e.message : (e.stack ?? e.message)}\n`);
  return code;
}

/** Prints a value as one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
