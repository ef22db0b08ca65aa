import { StorageError, TransientError } from '../errors.ts';

/** How RetryingTarget retries: jittered exponential backoff within a deadline per operation. */
export interface RetryPolicy {
  /** Backoff before the first retry, in ms; it doubles with each further retry. */
  initialDelayMs: number;
  /** Cap on one backoff, in ms. */
  maxDelayMs: number;
  /**
   * An operation gives up once it has been failing for this long, counted from its first failed
   * attempt (for a read, from the failure that interrupted it), with the last error as the cause.
   * A running attempt is never cut short: a healthy transfer may take as long as it needs, and a
   * hung one ends by the adapter's own timeouts.
   */
  deadlineMs: number;
}

/**
 * Bridges a burst of 5xx or a short outage within the operation; a target down for longer fails
 * the job, which records why and is retried by BullMQ with its own, longer backoff.
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  deadlineMs: 30_000,
};

/** Time as the retry loop sees it; injected so tests need not wait for real backoffs. */
export interface RetryClock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Resolves after ms, or rejects with the signal's reason once it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realRetryClock: RetryClock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** A retry decision's inputs and outcome, for logs and metrics. */
export interface RetryEvent {
  target: string;
  /** `put`, `get`, `resume get`, `head`, `list`, `delete`. */
  op: string;
  key: string | undefined;
  /** The attempt that just failed, from 1. */
  attempt: number;
  delayMs: number;
  error: StorageError;
}

/** Only the typed errors' own flag decides: a plain Error (a bug, the caller's own stream) is not retried. */
export function isRetryable(err: unknown): err is StorageError {
  return err instanceof StorageError && err.transient;
}

/**
 * Backoff before retry number `attempt` (1 = the first retry): exponential, capped, with "equal
 * jitter" (half fixed, half random), so many workers hitting one outage do not retry in step.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The operation kept failing until its deadline. Transient, so the job that asked fails and
 * BullMQ retries it later, when the target may be back.
 */
export class RetriesExhaustedError extends TransientError {
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly lastError: StorageError;

  constructor(op: string, lastError: StorageError, attempts: number, elapsedMs: number) {
    const what = lastError.key === undefined ? op : `${op} ${lastError.key}`;
    super(
      `${what} on target ${lastError.target} still failing after ${attempts} attempt(s) over ` +
        `${Math.round(elapsedMs / 1000)} s; the job will be retried later (last error: ${lastError.message})`,
      {
        target: lastError.target,
        ...(lastError.key !== undefined ? { key: lastError.key } : {}),
        cause: lastError,
      },
    );
    this.attempts = attempts;
    this.elapsedMs = elapsedMs;
    this.lastError = lastError;
  }
}
