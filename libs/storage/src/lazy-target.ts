import type { Readable } from 'node:stream';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  StorageTarget,
  TargetKind,
} from './target.ts';
import type { TargetFactory, TargetFactoryInput } from './target-spec.ts';

/**
 * A target whose adapter module (and its cloud SDK, ~30 MiB of heap each) loads on first use,
 * so a process only pays for the SDKs its configured targets need. A bad option surfaces as the
 * adapter's PermanentError on the first call, and on every call after it.
 */
export class LazyTarget implements StorageTarget {
  readonly name: string;
  readonly kind: TargetKind;
  readonly offsite: boolean;
  readonly location: string;
  private readonly input: TargetFactoryInput;
  private readonly load: () => Promise<TargetFactory>;
  private real: Promise<StorageTarget> | undefined;

  constructor(
    input: TargetFactoryInput,
    kind: TargetKind,
    offsiteByDefault: boolean,
    load: () => Promise<TargetFactory>,
  ) {
    this.input = input;
    this.load = load;
    this.name = input.name;
    this.kind = kind;
    this.offsite = input.offsite ?? offsiteByDefault;
    this.location = `${input.url.protocol}//${input.url.host}${input.url.pathname}`;
  }

  private target(): Promise<StorageTarget> {
    this.real ??= this.load().then((factory) => {
      const { resolveOptions, ...input } = this.input;
      return factory(resolveOptions ? { ...input, options: resolveOptions(input.options) } : input);
    });
    return this.real;
  }

  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    return (await this.target()).put(key, body, opts);
  }
  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    return (await this.target()).get(key, range, signal);
  }
  async head(key: string): Promise<ObjectInfo> {
    return (await this.target()).head(key);
  }
  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    return (await this.target()).list(prefix, opts);
  }
  async delete(key: string): Promise<void> {
    return (await this.target()).delete(key);
  }
}

/** A registry factory that defers loading the adapter until the target is used. */
export function lazyFactory(
  kind: TargetKind,
  offsiteByDefault: boolean,
  load: () => Promise<TargetFactory>,
): TargetFactory {
  return (input) => new LazyTarget(input, kind, offsiteByDefault, load);
}
