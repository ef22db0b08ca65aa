import { resolveSecretRefs, type TargetConfig } from '@fleet-backup/config';
import { PermanentFailure } from '@fleet-backup/core';
import type { TargetRef } from '@fleet-backup/db';
import {
  createTarget,
  type RetryEvent,
  RetryingTarget,
  type RetryPolicy,
  SealedTarget,
  SealingKeys,
  type StorageTarget,
  writeOnly,
} from '@fleet-backup/storage';

export interface TargetsOptions {
  /** Overrides of the retry policy every target is wrapped in (DEFAULT_RETRY_POLICY otherwise). */
  retry?: Partial<RetryPolicy>;
  /** Told before each retry of a target operation (a log line); must not throw. */
  onRetry?: (event: RetryEvent) => void;
  /** The data key of sealed targets; without it a sealed target fails every operation, saying why. */
  sealing?: SealingKeys;
}

const NO_MASTER_KEYS = { currentId: null, ids: [], keyFor: () => undefined };

/** Whether a target's objects are sealed: its own setting, or on for an offsite target. */
export function sealedTarget(config: TargetConfig, offsite: boolean): boolean {
  return (config.encryption ?? (offsite ? 'aes-256-gcm' : 'none')) !== 'none';
}

/**
 * The options that carry a credential: a target with an `agent` block hands these only to the pool
 * and the producer, and the agent's own (inside `agent`) only to agents.
 */
const CREDENTIAL_OPTIONS = ['credentials', 'keyFilename', 'accessToken'];

/** The options the pool and the producer use: the target's, without `agent`. */
function poolOptions(options: Record<string, unknown> | undefined): Record<string, unknown> {
  const { agent: _, ...pool } = options ?? {};
  return pool;
}

/**
 * An agent's options: `agent`'s laid over the pool's, the pool's credential taken out first so an
 * agent's host never needs it. Undefined when the target names no agent credential.
 */
function agentOptions(options: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const agent = options?.agent as Record<string, unknown> | undefined;
  if (agent === undefined) return undefined;
  const base = Object.entries(poolOptions(options)).filter(([k]) => !CREDENTIAL_OPTIONS.includes(k));
  return { ...Object.fromEntries(base), ...agent };
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
  private readonly agents = new Map<string, StorageTarget>();

  constructor(configs: TargetConfig[], opts: TargetsOptions = {}) {
    this.configs = configs;
    this.opts = opts;
  }

  /**
   * The target with the pool's credential (the one that reads, verifies, expires and collects),
   * or a PermanentFailure saying it is not configured here.
   */
  get(name: string): StorageTarget {
    const existing = this.made.get(name);
    if (existing) return existing;
    const config = this.config(name);
    const target = this.build(config, poolOptions(config.options));
    this.made.set(name, target);
    return target;
  }

  /**
   * The target as an agent uses it: with the agent credential its `agent` options name, create
   * only (writeOnly); the pool's target where it names none (a warning in `fleet-backup report`).
   */
  forAgent(name: string): StorageTarget {
    const existing = this.agents.get(name);
    if (existing) return existing;
    const config = this.config(name);
    const options = agentOptions(config.options);
    const target = options === undefined ? this.get(name) : writeOnly(this.build(config, options));
    this.agents.set(name, target);
    return target;
  }

  /** Whether agents write to the target with a create-only credential of their own. */
  agentsWriteOnly(name: string): boolean {
    return agentOptions(this.config(name).options) !== undefined;
  }

  private config(name: string): TargetConfig {
    const config = this.configs.find((c) => c.name === name);
    if (config) return config;
    throw new PermanentFailure(
      `target ${name} is not configured in this process (known: ${this.names().join(', ') || 'none'}); add it to the configuration (fleet-backup config apply)`,
      { target: name },
    );
  }

  private build(config: TargetConfig, options: Record<string, unknown>): StorageTarget {
    const spec = {
      ...config,
      options,
      // Credentials named by reference are read where this role runs, when first needed.
      resolveOptions: (o: Record<string, unknown>) => resolveSecretRefs(o, `target ${config.name}: options`),
    };
    const made = createTarget(spec);
    const retrying = new RetryingTarget(made, {
      ...(this.opts.retry ? { policy: this.opts.retry } : {}),
      ...(this.opts.onRetry ? { onRetry: this.opts.onRetry } : {}),
    });
    if (!sealedTarget(config, made.offsite)) return retrying;
    // Without keys, a sealed target fails the operations that need one, each saying what to set.
    return new SealedTarget(retrying, this.opts.sealing ?? new SealingKeys(null, NO_MASTER_KEYS));
  }

  /** Whether the target's objects are sealed (the refs recorded on backups carry it too). */
  sealed(name: string): boolean {
    return sealedTarget(this.config(name), this.get(name).offsite);
  }

  names(): string[] {
    return this.configs.map((c) => c.name);
  }

  /** Name, kind and offsite flag of every configured target, as recorded on a new backup. */
  refs(): TargetRef[] {
    return this.names().map((name) => {
      const t = this.get(name);
      return {
        name,
        kind: t.kind,
        offsite: t.offsite,
        encryption: this.sealed(name) ? 'aes-256-gcm' : 'none',
      };
    });
  }
}
