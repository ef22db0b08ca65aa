/**
 * A failure no retry can fix (bad input, unknown host, a path outside its root).
 * The queue runner turns it into BullMQ's UnrecoverableError; the message is written for an
 * operator: what failed, where, and what to do.
 */
export class PermanentFailure extends Error {
  readonly details: Record<string, unknown>;
  constructor(message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.details = details;
  }
}

/** Input that does not satisfy a schema or a rule; an HTTP 400 or CLI exit 2. */
export class BadInputError extends PermanentFailure {}

/** Something named does not exist (backup, host); an HTTP 404 or CLI exit 3. */
export class NotFoundFailure extends PermanentFailure {}
