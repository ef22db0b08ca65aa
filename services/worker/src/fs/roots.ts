import type { HostConfig, SourceConfig } from '@fleet-backup/config';
import { isInside, ruleSet, sensitiveMatcher } from '@fleet-backup/core';
import type { WalkRoot } from './walk.ts';

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

function innermostSource(p: string, sources: SourceConfig[]): SourceConfig | undefined {
  let best: SourceConfig | undefined;
  for (const s of sources) {
    if (isInside(p, s.path) && (!best || s.path.length > best.path.length)) best = s;
  }
  return best;
}
