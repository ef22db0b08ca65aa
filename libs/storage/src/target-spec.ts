import type { StorageTarget } from './target.ts';

/** How a deployment describes one target, e.g. `{ name: 'second', url: 'file:///mnt/second' }`. */
export interface TargetSpec {
  name: string;
  url: string;
  /** Overrides the scheme's default (file: false; cloud schemes decide their own). */
  offsite?: boolean;
  /** Scheme-specific settings (endpoint, credentials file, part size…), checked by the factory. */
  options?: Record<string, unknown>;
  /**
   * Turns the options into the ones the adapter gets (secrets read from where the configuration
   * names them), called when a cloud adapter is first used: a failure fails that use, not the
   * process, and planning with the target's kind and offsite flag needs no secret.
   */
  resolveOptions?: (options: Record<string, unknown>) => Record<string, unknown>;
}

/** What a scheme factory receives: the spec with its URL already parsed and the name validated. */
export interface TargetFactoryInput {
  name: string;
  url: URL;
  offsite: boolean | undefined;
  options: Record<string, unknown>;
  resolveOptions?: TargetSpec['resolveOptions'];
}

/** Builds a target for one URL scheme; throws PermanentError on a URL or options it cannot use. */
export type TargetFactory = (input: TargetFactoryInput) => StorageTarget;
