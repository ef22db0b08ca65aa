import type { Readable } from 'node:stream';
import { reopenable } from '../put-body.ts';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  StorageTarget,
  TargetKind,
} from '../target.ts';
import {
  DEFAULT_RETRY_POLICY,
  type RetryClock,
  type RetryEvent,
  type RetryPolicy,
  realRetryClock,
} from './retry-policy.ts';
import { retryingGet } from './retrying-read.ts';
import { type RetryContext, withRetries } from './with-retries.ts';

export interface RetryingTargetOptions {
  policy?: Partial<RetryPolicy>;
  clock?: RetryClock;
  /** Jitter source, 0 ≤ x < 1; Math.random by default. */
  random?: () => number;
  /** Told before each backoff (for a log line or a metric); must not throw. */
  onRetry?: (event: RetryEvent) => void;
}

/**
 * Retries another target's operations that fail with a transient StorageError (5xx, throttling,
 * resets, timeouts), with jittered exponential backoff, until they have been failing for the
 * policy's deadline; NotFound and permanent errors pass through at once (compare restic's
 * backend/retry and Kopia's blob/retrying). So a single 503 costs one request, not a re-run of a
 * whole replicate or verify job, and a target that stays down still fails the job in time for
 * BullMQ to retry it.
 *
 * - put: retried only when its body is a factory that can open the bytes again, or the bytes
 *   themselves; a plain stream can be read once, so that put gets one attempt.
 * - get: a stream that fails or ends short midway is resumed from the first byte not delivered
 *   (see retryingGet), so a reader gets exactly the object's bytes.
 */
export class RetryingTarget implements StorageTarget {
  readonly name: string;
  readonly kind: TargetKind;
  readonly offsite: boolean;
  readonly location: string;
  readonly inner: StorageTarget;
  private readonly ctx: RetryContext;

  constructor(inner: StorageTarget, opts: RetryingTargetOptions = {}) {
    this.inner = inner;
    this.name = inner.name;
    this.kind = inner.kind;
    this.offsite = inner.offsite;
    this.location = inner.location;
    this.ctx = {
      target: inner.name,
      policy: { ...DEFAULT_RETRY_POLICY, ...opts.policy },
      clock: opts.clock ?? realRetryClock,
      random: opts.random ?? Math.random,
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
    };
  }

  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    if (!reopenable(body)) return this.inner.put(key, body, opts);
    await withRetries(this.ctx, {
      op: 'put',
      key,
      signal: opts.signal,
      attempt: () => this.inner.put(key, body, opts),
    });
  }

  get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    return retryingGet(this.ctx, this.inner, key, range, signal);
  }

  head(key: string): Promise<ObjectInfo> {
    return withRetries(this.ctx, { op: 'head', key, signal: undefined, attempt: () => this.inner.head(key) });
  }

  list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    return withRetries(this.ctx, {
      op: 'list',
      key: prefix,
      signal: undefined,
      attempt: () => this.inner.list(prefix, opts),
    });
  }

  delete(key: string): Promise<void> {
    return withRetries(this.ctx, {
      op: 'delete',
      key,
      signal: undefined,
      attempt: () => this.inner.delete(key),
    });
  }
}
