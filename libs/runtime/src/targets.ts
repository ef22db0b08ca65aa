import type { TargetConfig } from '@fleet-backup/config';
import { PermanentFailure } from '@fleet-backup/core';
import type { TargetRef } from '@fleet-backup/db';
import { createTarget, type StorageTarget } from '@fleet-backup/storage';

/** The configured storage targets, by name, created lazily so a bad one fails only the jobs that use it. */
export class Targets {
  private readonly configs: TargetConfig[];
  private readonly made = new Map<string, StorageTarget>();

  constructor(configs: TargetConfig[]) {
    this.configs = configs;
  }

  /** The target, or a PermanentFailure saying it is not configured here. */
  get(name: string): StorageTarget {
    const existing = this.made.get(name);
    if (existing) return existing;
    const config = this.configs.find((c) => c.name === name);
    if (!config) {
      throw new PermanentFailure(
        `target ${name} is not configured in this process (known: ${this.names().join(', ') || 'none'}); add it to the config file`,
        { target: name },
      );
    }
    const target = createTarget(config);
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
