import type { StorageError } from '../errors.ts';
import {
  backoffMs,
  isRetryable,
  RetriesExhaustedError,
  type RetryClock,
  type RetryEvent,
  type RetryPolicy,
} from './retry-policy.ts';

/** What one retrying target shares across its operations. */
export interface RetryContext {
  target: string;
  policy: RetryPolicy;
  clock: RetryClock;
  /** Jitter source, 0 ≤ x < 1. */
  random: () => number;
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryCall<T> {
  op: string;
  key: string | undefined;
  /** The caller's signal: no attempt starts, and no backoff continues, once it aborted. */
  signal: AbortSignal | undefined;
  attempt: () => Promise<T>;
  /** A failure that already happened (a read interrupted midway): back off before the first attempt. */
  after?: StorageError;
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not transient, the caller aborts,
 * or it has been failing for the policy's deadline (RetriesExhaustedError, transient itself).
 */
export async function withRetries<T>(ctx: RetryContext, call: RetryCall<T>): Promise<T> {
  let failingSince: number | undefined;
  let failures = 0;
  let last = call.after;
  if (last !== undefined) {
    failingSince = ctx.clock.now();
    failures = 1;
    await backOff(ctx, call, last, failures, failingSince);
  }
  for (;;) {
    call.signal?.throwIfAborted();
    try {
      return await call.attempt();
    } catch (err) {
      if (call.signal?.aborted || !isRetryable(err)) throw err;
      last = err;
      failures++;
      failingSince ??= ctx.clock.now();
      await backOff(ctx, call, last, failures, failingSince);
    }
  }
}

/** Waits before the next attempt, or throws RetriesExhaustedError when that would pass the deadline. */
async function backOff<T>(
  ctx: RetryContext,
  call: RetryCall<T>,
  error: StorageError,
  failures: number,
  failingSince: number,
): Promise<void> {
  const delayMs = backoffMs(ctx.policy, failures, ctx.random);
  const failingFor = ctx.clock.now() - failingSince;
  if (failingFor + delayMs > ctx.policy.deadlineMs) {
    throw new RetriesExhaustedError(call.op, error, failures, failingFor);
  }
  ctx.onRetry?.({ target: ctx.target, op: call.op, key: call.key, attempt: failures, delayMs, error });
  await ctx.clock.sleep(delayMs, call.signal);
}
