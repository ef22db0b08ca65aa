import { PermanentError } from '../errors.ts';
import type { TargetFactoryInput } from '../target-spec.ts';

/**
 * Reads a cloud target's settings from its URL query and its options object (options win).
 * Unknown names are errors, so a typo such as `forcePathstyle` fails loudly instead of being ignored.
 */
export class TargetSettings {
  private readonly input: TargetFactoryInput;
  private readonly used = new Set<string>();

  constructor(input: TargetFactoryInput) {
    this.input = input;
    if (input.url.username !== '' || input.url.password !== '') {
      throw this.fail(
        `credentials must not be written into the target URL; pass them in the target options or the environment`,
      );
    }
  }

  fail(message: string): PermanentError {
    return new PermanentError(`target ${this.input.name}: ${message}`, { target: this.input.name });
  }

  /** A setting that may come from the URL query or the options. */
  private raw(name: string, fromUrl = true): unknown {
    this.used.add(name);
    if (!fromUrl && this.input.url.searchParams.has(name)) {
      throw this.fail(`${name} may only be given in the target options, not in the URL`);
    }
    if (name in this.input.options) return this.input.options[name];
    return fromUrl ? (this.input.url.searchParams.get(name) ?? undefined) : undefined;
  }

  string(name: string, fromUrl = true): string | undefined {
    const value = this.raw(name, fromUrl);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw this.fail(`${name} must be a string`);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw this.fail(`${name} must be true or false, not ${JSON.stringify(value)}`);
  }

  /** An integer >= min (default 1); URL values may carry a unit suffix: `8MiB`, `256KiB`. */
  integer(name: string, min = 1): number | undefined {
    const value = this.raw(name);
    if (value === undefined || value === null || value === '') return undefined;
    const parsed = typeof value === 'number' ? value : parseSize(String(value));
    if (parsed === undefined || !Number.isSafeInteger(parsed) || parsed < min) {
      throw this.fail(`${name} must be an integer of at least ${min}, not ${JSON.stringify(value)}`);
    }
    return parsed;
  }

  /** One of `choices`. */
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) {
      throw this.fail(`${name} must be one of ${choices.join(', ')}, not ${JSON.stringify(value)}`);
    }
    return value as T;
  }

  /** An object-valued option (never from the URL), e.g. credentials. */
  object(name: string): Record<string, unknown> | undefined {
    const value = this.raw(name, false);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw this.fail(`${name} must be an object`);
    return value as Record<string, unknown>;
  }

  /** Call last: rejects settings that were given but never read. */
  assertNoUnknown(): void {
    const given = [...this.input.url.searchParams.keys(), ...Object.keys(this.input.options)];
    const unknown = [...new Set(given)].filter((name) => !this.used.has(name));
    if (unknown.length > 0) {
      throw this.fail(`unknown setting(s) ${unknown.join(', ')}; known: ${[...this.used].sort().join(', ')}`);
    }
  }
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1 << 20,
  mib: 1 << 20,
  g: 1 << 30,
  gib: 1 << 30,
};

function parseSize(text: string): number | undefined {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = UNITS[(match[2] ?? '').toLowerCase()];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}

/** The bucket and prefix of `scheme://bucket/prefix`. */
export function bucketAndPrefix(settings: TargetSettings, url: URL): { bucket: string; prefix: string } {
  const bucket = decodeURIComponent(url.hostname);
  if (bucket === '') throw settings.fail(`${url.protocol}//bucket/prefix needs a bucket name`);
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  return { bucket, prefix };
}
