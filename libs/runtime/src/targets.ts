import { resolveSecretRefs, type TargetConfig } from '@fleet-backup/config';
import { PermanentFailure } from '@fleet-backup/core';
import type { TargetRef } from '@fleet-backup/db';
import {
  createTarget,
  type RetryEvent,
  RetryingTarget,
  type RetryPolicy,
  type StorageTarget,
} from '@fleet-backup/storage';

export interface TargetsOptions {
  /** Overrides of the retry policy every target is wrapped in (DEFAULT_RETRY_POLICY otherwise). */
  retry?: Partial<RetryPolicy>;
  /** Told before each retry of a target operation (a log line); must not throw. */
  onRetry?: (event: RetryEvent) => void;
}

/**
 * The configured storage targets, by name, created lazily so a bad one fails only the jobs that use
 * it. Each is wrapped in a RetryingTarget, so a transient failure (a 503, a reset) is retried where
 * it happened instead of failing the whole replicate, verify, restore or drill job.
 */
export class Targets {
  private readonly configs: TargetConfig[];
  private readonly opts: TargetsOptions;
  private readonly made = new Map<string, StorageTarget>();

  constructor(configs: TargetConfig[], opts: TargetsOptions = {}) {
    this.configs = configs;
    this.opts = opts;
  }

  /** The target, or a PermanentFailure saying it is not configured here. */
  get(name: string): StorageTarget {
    const existing = this.made.get(name);
    if (existing) return existing;
    const config = this.configs.find((c) => c.name === name);
    if (!config) {
      throw new PermanentFailure(
        `target ${name} is not configured in this process (known: ${this.names().join(', ') || 'none'}); add it to the configuration (fleet-backup config apply)`,
        { target: name },
      );
    }
    const spec = {
      ...config,
      // Credentials named by reference are read where this role runs, when first needed.
      resolveOptions: (options: Record<string, unknown>) =>
        resolveSecretRefs(options, `target ${name}: options`),
    };
    const target = new RetryingTarget(createTarget(spec), {
      ...(this.opts.retry ? { policy: this.opts.retry } : {}),
      ...(this.opts.onRetry ? { onRetry: this.opts.onRetry } : {}),
    });
    this.made.set(name, target);
    return target;
  }

  names(): string[] {
    return this.configs.map((c) => c.name);
  }

  /** Name, kind and offsite flag of every configured target, as recorded on a new backup. */
  refs(): TargetRef[] {
    return this.names().map((name) => {
      const t = this.get(name);
      return { name, kind: t.kind, offsite: t.offsite };
    });
  }
}
