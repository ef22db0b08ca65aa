import { PermanentError } from './errors.ts';
import { createFsTargetFromUrl } from './fs-target.ts';
import { lazyFactory } from './lazy-target.ts';
import type { StorageTarget } from './target.ts';
import type { TargetFactory, TargetSpec } from './target-spec.ts';

/** Target names appear in job ids and queue names, so they stay short and punctuation-free. */
export const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
/** Reserved for the host's own backup root (/backup), which is not a registry target. */
export const RESERVED_TARGET_NAMES: ReadonlySet<string> = new Set(['local']);

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const factories = new Map<string, TargetFactory>();

/** Registers (or replaces) the factory for URLs of `scheme` (e.g. 'file', 's3', 'gs'; no trailing ':'). */
export function registerTargetScheme(scheme: string, factory: TargetFactory): void {
  const normalized = scheme.toLowerCase().replace(/:$/, '');
  if (!SCHEME.test(normalized)) throw new TypeError(`invalid URL scheme: ${scheme}`);
  factories.set(normalized, factory);
}

/** The schemes createTarget accepts, sorted. */
export function knownTargetSchemes(): string[] {
  return [...factories.keys()].sort();
}

/** Throws PermanentError unless `name` can name a target. */
export function assertValidTargetName(name: string): void {
  if (!TARGET_NAME.test(name)) {
    throw new PermanentError(
      `invalid target name ${JSON.stringify(name)}: use 1-32 of a-z, 0-9 and '-', starting with a letter or digit`,
      { target: name },
    );
  }
  if (RESERVED_TARGET_NAMES.has(name)) {
    throw new PermanentError(`target name ${name} is reserved for the host's own backup root; pick another`, {
      target: name,
    });
  }
}

/** The URL with any credentials removed, safe to put in messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return parsed.href;
    parsed.username = '***';
    parsed.password = '';
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^/@]*@/, '//***@');
  }
}

/** Builds the target a spec's URL names, through the factory registered for its scheme. */
export function createTarget(spec: TargetSpec): StorageTarget {
  assertValidTargetName(spec.name);
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch (err) {
    throw new PermanentError(`target ${spec.name}: ${redactUrl(spec.url)} is not a valid URL`, {
      target: spec.name,
      cause: err,
    });
  }
  const scheme = url.protocol.replace(/:$/, '');
  const factory = factories.get(scheme);
  if (factory === undefined) {
    const known = knownTargetSchemes()
      .map((s) => `${s}://`)
      .join(', ');
    throw new PermanentError(
      `target ${spec.name}: unknown URL scheme ${scheme}:// in ${redactUrl(spec.url)} (known schemes: ${known})`,
      { target: spec.name },
    );
  }
  return factory({
    name: spec.name,
    url,
    offsite: spec.offsite,
    options: spec.options ?? {},
    ...(spec.resolveOptions ? { resolveOptions: spec.resolveOptions } : {}),
  });
}

// Built-in schemes. Each cloud adapter adds one line here, importing its factory from src/<adapter>/.
registerTargetScheme('file', createFsTargetFromUrl);
registerTargetScheme(
  's3',
  lazyFactory('s3', true, async () => (await import('./s3/s3-url.ts')).createS3TargetFromUrl),
);
registerTargetScheme(
  'gs',
  lazyFactory('gcs', true, async () => (await import('./gcs/gcs-url.ts')).createGcsTargetFromUrl),
);
