import { PermanentError, TransientError } from '../errors.ts';

/** Where a cloud call failed: shared by the S3 and GCS error mappers. */
export interface CloudErrorContext {
  target: string;
  key?: string;
  bucket: string;
  /** `s3://bucket/prefix at endpoint` or `gs://…`. */
  location: string;
  /** `put`, `get`, `head`, `list`, `delete`. */
  op: string;
}

/** The options of an error about ctx: the key only when the call had one. */
function errorOptions(ctx: CloudErrorContext, cause: unknown) {
  return ctx.key === undefined ? { target: ctx.target, cause } : { target: ctx.target, key: ctx.key, cause };
}

/** The error for a bucket that is not there, whichever cloud reported it. */
export function bucketMissing(ctx: CloudErrorContext, cause: unknown): PermanentError {
  return new PermanentError(
    `bucket ${ctx.bucket} does not exist at ${ctx.location} (target ${ctx.target}): create it or fix the target URL`,
    errorOptions(ctx, cause),
  );
}

/** The pieces every mapped error shares: its options, a "what failed" phrase, and two builders. */
export function errorBuilders(ctx: CloudErrorContext, err: unknown, label: string | number | undefined) {
  const opts = errorOptions(ctx, err);
  const what =
    ctx.key === undefined ? `${ctx.op} on ${ctx.location}` : `${ctx.op} ${ctx.key} on ${ctx.location}`;
  return {
    opts,
    what,
    permanent: (advice: string) => new PermanentError(`${what} failed (${label}): ${advice}`, opts),
    transient: (reason: string) => new TransientError(`${what} failed: ${reason}; retry later`, opts),
  };
}
