import { isDeepStrictEqual } from 'node:util';
import { BadInputError } from '@fleet-backup/core';
import { type ConfigFile, configFileSchema, type HostConfig, type TargetConfig } from './schema.ts';

/**
 * A configuration document checked whole: the validated document, or a BadInputError naming every
 * problem by its path in the document (`hosts.web-1.sources.0.path: …`), one per line.
 */
export function parseConfigDoc(raw: unknown, source: string): ConfigFile {
  const parsed = configFileSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`,
  );
  throw new BadInputError(
    `${source} is refused, nothing was applied (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.join('\n')}`,
  );
}

/**
 * What applying `after` over `before` changes, one line each: hosts, sources and targets added
 * (+), removed (-) or changed (~), then the fleet-wide settings that differ. Empty: nothing.
 */
export function diffConfig(before: ConfigFile | null, after: ConfigFile): string[] {
  const was = before ?? configFileSchema.parse({});
  const lines = [
    ...diffNamed('host', was.hosts, after.hosts, hostChanges),
    ...diffNamed('target', byName(was.targets), byName(after.targets), (a, b) => changedFields(a, b)),
  ];
  for (const key of Object.keys(after) as (keyof ConfigFile)[]) {
    if (key === 'hosts' || key === 'targets' || isDeepStrictEqual(was[key], after[key])) continue;
    lines.push(`~ ${key}: ${JSON.stringify(was[key])} -> ${JSON.stringify(after[key])}`);
  }
  return lines;
}

function byName(targets: TargetConfig[]): Record<string, TargetConfig> {
  return Object.fromEntries(targets.map((t) => [t.name, t]));
}

function diffNamed<T>(
  what: string,
  was: Record<string, T>,
  now: Record<string, T>,
  changes: (a: T, b: T) => string[],
): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(now).sort()) {
    const before = was[name];
    if (before === undefined) lines.push(`+ ${what} ${name}`);
    else {
      const changed = changes(before, now[name] as T);
      if (changed.length) lines.push(`~ ${what} ${name}: ${changed.join('; ')}`);
    }
  }
  for (const name of Object.keys(was).sort()) if (!(name in now)) lines.push(`- ${what} ${name}`);
  return lines;
}

/** A host's sources added, removed or changed (by path), then its other fields that differ. */
function hostChanges(a: HostConfig, b: HostConfig): string[] {
  const was = new Map(a.sources.map((s) => [s.path, s]));
  const now = new Map(b.sources.map((s) => [s.path, s]));
  const out: string[] = [];
  for (const [p, s] of now) {
    const before = was.get(p);
    if (!before) out.push(`source ${p} added`);
    else if (!isDeepStrictEqual(before, s))
      out.push(`source ${p} changed (${changedFields(before, s).join(', ')})`);
  }
  for (const p of was.keys()) if (!now.has(p)) out.push(`source ${p} removed`);
  const fields = changedFields({ ...a, sources: [] }, { ...b, sources: [] });
  return fields.length ? [...out, `${fields.join(', ')} changed`] : out;
}

/** The top-level fields of two objects that differ (values are not shown: options may hold references). */
function changedFields(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys]
    .filter((k) => !isDeepStrictEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    .sort();
}
