import { realpath } from 'node:fs/promises';
import type { HostConfig, SourceConfig } from '@fleet-backup/config';
import { isInside, type RequestScope, ruleSet, sensitiveMatcher } from '@fleet-backup/core';
import type { WalkRoot, WalkScope } from './found.ts';

/**
 * The walk roots for requested paths: each gets the default exclusion rules plus the
 * include/exclude globs of the configured source it falls under (the innermost one), so a path
 * requested through the CLI or the API is judged exactly as the daily of that source would be.
 */
export function walkRoots(paths: string[], hostConfig: HostConfig): WalkRoot[] {
  return paths.map((p) => {
    const source = innermostSource(p, hostConfig.sources);
    return {
      path: p,
      config: hostConfig.sources.some((s) => s.config && isInside(p, s.path)),
      rules: ruleSet(p, source),
      sensitive: sensitiveMatcher(source?.path ?? p, source?.sensitive),
    };
  });
}

/** The roots this agent may read: configured roots, else the sources, else everything. */
export function allowedRoots(config: HostConfig): string[] {
  if (config.roots?.length) return config.roots;
  if (config.sources.length) return config.sources.map((s) => s.path);
  return ['/'];
}

function innermostSource(p: string, sources: SourceConfig[]): SourceConfig | undefined {
  let best: SourceConfig | undefined;
  for (const s of sources) {
    if (isInside(p, s.path) && (!best || s.path.length > best.path.length)) best = s;
  }
  return best;
}

/**
 * A pre_change token's scope as the walk enforces it: its prefixes as written and, where a prefix
 * is reached through a symlink on this host, its real path too (the API judged the request by the
 * written prefixes; the agent judges what it stores by real paths).
 */
export async function resolveScope(scope: RequestScope): Promise<WalkScope> {
  const prefixes = new Set(scope.pathPrefixes);
  for (const p of scope.pathPrefixes) {
    const real = await realpath(p).catch(() => null);
    if (real) prefixes.add(real);
  }
  return { token: scope.token, prefixes: [...prefixes] };
}
