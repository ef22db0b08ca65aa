import { NotFoundError, PermanentError, StorageError, TransientError } from './errors.ts';

/** What was being done when a filesystem call failed, for operator-readable messages. */
export interface FsErrorContext {
  target: string;
  key?: string;
  /** The path the call touched. */
  path: string;
  /** Short verb phrase, e.g. 'write', 'read', 'create temp dir'. */
  op: string;
  /** Reads treat a missing path as a missing object; writes treat it as a broken target. */
  reading: boolean;
}

/** The errno code of a Node system error, if it is one. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}

/** Errno codes that a retry cannot fix without an operator acting first. */
const PERMANENT: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only filesystem',
  ENAMETOOLONG: 'file name too long for this filesystem',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'a directory is in the way',
};

/** What the operator should do about a permanent errno, shown at the end of the message. */
const ADVICE: Record<string, string> = {
  ENOSPC: 'free space on the target, then retry',
  EDQUOT: 'raise the quota or free space on the target, then retry',
  EACCES: 'give the backup user write access to the target root',
  EPERM: 'give the backup user write access to the target root',
  EROFS: 'remount the target read-write',
  ENOTDIR: 'check that the target root is a directory',
};

/**
 * Translates a Node filesystem error into the storage error taxonomy, so callers never see errno
 * codes: missing paths on reads → NotFoundError, full/forbidden/read-only → PermanentError, and
 * everything else (EIO, ESTALE on NFS, EMFILE, EBUSY…) → TransientError, since a retry may succeed.
 */
export function mapFsError(err: unknown, ctx: FsErrorContext): StorageError {
  if (err instanceof StorageError) return err;
  const code = errnoCode(err);
  const key = ctx.key;
  if (ctx.reading && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') && key !== undefined) {
    return new NotFoundError(ctx.target, key, err);
  }
  const what = code !== undefined ? PERMANENT[code] : undefined;
  if (code !== undefined && what !== undefined) {
    const advice = ADVICE[code];
    const message = `${what} on target ${ctx.target} at ${ctx.path} (${ctx.op} failed, ${code})${advice ? `: ${advice}` : ''}`;
    return new PermanentError(message, { target: ctx.target, key, cause: err });
  }
  if (code === 'ENOENT') {
    // A write-side ENOENT means the root itself vanished (unmounted NFS, deleted directory).
    const message = `${ctx.op} failed on target ${ctx.target}: ${ctx.path} does not exist (is the target mounted?)`;
    return new TransientError(message, { target: ctx.target, key, cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new TransientError(`${ctx.op} failed on target ${ctx.target} at ${ctx.path}: ${detail}`, {
    target: ctx.target,
    key,
    cause: err,
  });
}
