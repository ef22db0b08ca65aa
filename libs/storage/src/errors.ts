/**
 * Typed storage errors. Callers branch on the class, never on SDK-specific codes:
 * adapters translate their SDK's failures into these at the boundary.
 */
export class StorageError extends Error {
  /** True when a retry may succeed (5xx, timeouts, throttling, connection resets). */
  readonly transient: boolean;
  readonly target: string;
  readonly key: string | undefined;

  constructor(message: string, opts: { target: string; key?: string; transient: boolean; cause?: unknown }) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.target = opts.target;
    this.key = opts.key;
    this.transient = opts.transient;
  }
}

/** The object does not exist on the target. */
export class NotFoundError extends StorageError {
  constructor(target: string, key: string, cause?: unknown) {
    super(`${key} not found on target ${target}`, { target, key, transient: false, cause });
  }
}

/** A failure a retry cannot fix: bad credentials, missing bucket, access denied, bad input. */
export class PermanentError extends StorageError {
  constructor(message: string, opts: { target: string; key?: string; cause?: unknown }) {
    super(message, { ...opts, transient: false });
  }
}

/**
 * A put with `ifAbsent` found an object under the key already and wrote nothing. For a
 * content-addressed key that means the bytes are stored; it is how a process holding a
 * create-only credential (an agent's) learns it without the read it is not allowed.
 */
export class AlreadyExistsError extends PermanentError {
  constructor(target: string, key: string, cause?: unknown) {
    super(`${key} already exists on target ${target}; nothing was written`, { target, key, cause });
  }
}

/** The bytes received did not hash to the sha256 the caller promised; nothing was stored under the key. */
export class IntegrityError extends PermanentError {
  readonly expected: string;
  readonly actual: string;
  constructor(target: string, key: string, expected: string, actual: string) {
    super(`sha256 mismatch for ${key} on target ${target}: expected ${expected}, got ${actual}`, {
      target,
      key,
    });
    this.expected = expected;
    this.actual = actual;
  }
}

/** A failure worth retrying with backoff. */
export class TransientError extends StorageError {
  constructor(message: string, opts: { target: string; key?: string; cause?: unknown }) {
    super(message, { ...opts, transient: true });
  }
}

/**
 * The object's bytes fail the target's own integrity check on read (they no longer match the
 * crc32c, md5 or sha256 the server stored with them): the stored object is corrupt. Unlike a
 * transient error, reading it again will not help; unlike an unreachable target, this proves
 * the copy bad.
 */
export class CorruptObjectError extends PermanentError {}
