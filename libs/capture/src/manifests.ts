import type { Dirent } from 'node:fs';
import { glob, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { isInside, neverBackedUp, sensitiveMatcher } from '@fleet-backup/core';
import type { WalkLimits } from './found.ts';

/** More than this many manifests is a glob gone wide (a whole disk's `package.json`s): the rest are listed as one problem. */
export const MAX_MANIFESTS = 1000;

/** Directories a manifest glob never enters: installed copies of packages, history, kernel views. */
const NEVER_SEARCHED = new Set(['node_modules', '.git']);
const VIRTUAL_ROOTS = ['/proc', '/sys', '/dev'];

export interface FoundManifest {
  /** The path as matched. */
  path: string;
  /** Where its bytes are (differs through a symlink). */
  readFrom: string;
}

export interface ManifestProblem {
  /** The configured path or glob, or the matched file. */
  path: string;
  error: string;
}

/**
 * Expands the configured manifest paths and globs into the files to record, sorted and
 * deduplicated. A missing path, a glob matching nothing and a file outside the agent's roots are
 * problems to record, never a failed backup.
 */
export async function findManifests(
  patterns: readonly string[],
  limits: WalkLimits,
): Promise<{ files: FoundManifest[]; problems: ManifestProblem[] }> {
  const matched = new Set<string>();
  const problems: ManifestProblem[] = [];
  for (const pattern of patterns) {
    // A plain path is checked as itself, so a missing one is reported as missing.
    if (!isGlob(pattern)) {
      matched.add(pattern);
      continue;
    }
    try {
      const hits = await expand(pattern, limits, matched);
      if (!hits) problems.push({ path: pattern, error: 'no file matches' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      problems.push({ path: pattern, error: `cannot search: ${code}` });
    }
  }
  const files: FoundManifest[] = [];
  for (const p of [...matched].sort()) {
    if (files.length === MAX_MANIFESTS) {
      problems.push({
        path: p,
        error: `more than ${MAX_MANIFESTS} manifests matched: this one and the rest are not recorded; narrow the globs`,
      });
      break;
    }
    const checked = await checkManifest(p, limits);
    if ('error' in checked) problems.push(checked);
    else files.push(checked);
  }
  return { files, problems };
}

/** Adds the files a glob matches to `matched` (stopping past MAX_MANIFESTS); returns how many it matched. */
async function expand(pattern: string, limits: WalkLimits, matched: Set<string>): Promise<number> {
  let hits = 0;
  for await (const entry of glob(pattern, { withFileTypes: true, exclude: (d) => pruned(d, limits) })) {
    if (entry.isDirectory()) continue;
    matched.add(path.join(entry.parentPath, entry.name));
    hits++;
    if (matched.size > MAX_MANIFESTS) break;
  }
  return hits;
}

function isGlob(pattern: string): boolean {
  return /[*?[\]{}]/.test(pattern);
}

function pruned(d: Dirent, limits: WalkLimits): boolean {
  const full = path.join(d.parentPath, d.name);
  return (
    (d.isDirectory() && NEVER_SEARCHED.has(d.name)) ||
    isInside(full, limits.backupRoot) ||
    VIRTUAL_ROOTS.some((r) => isInside(full, r)) ||
    neverBackedUp(full) !== null
  );
}

/**
 * The walk's rules (inside the agent's roots after symlinks, never our own copies, a regular file),
 * and never a file the default sensitive-file globs name.
 */
async function checkManifest(p: string, limits: WalkLimits): Promise<FoundManifest | ManifestProblem> {
  let real: string;
  try {
    real = await realpath(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      path: p,
      error: code === 'ENOENT' ? 'not found' : `cannot read: ${code ?? (err as Error).message}`,
    };
  }
  if (!limits.allowedRoots.some((r) => isInside(real, r))) {
    return {
      path: p,
      error: `resolves to ${real}, outside the roots this agent may read (${limits.allowedRoots.join(', ')}); not read`,
    };
  }
  if (isInside(real, limits.backupRoot) || neverBackedUp(real)) {
    return { path: p, error: `resolves to ${real}, which is never backed up; not read` };
  }
  // dependencies.config is stored in the clear: a key or token file belongs in a source, where it is encrypted.
  const sensitive = sensitiveMatcher(path.posix.dirname(p)).match(p);
  if (sensitive) {
    return {
      path: p,
      error: `matches the sensitive-file glob ${sensitive}; not recorded here in the clear, back it up through a source`,
    };
  }
  const info = await stat(real).catch(() => null);
  if (!info?.isFile()) return { path: p, error: 'not a regular file' };
  return { path: p, readFrom: real };
}
