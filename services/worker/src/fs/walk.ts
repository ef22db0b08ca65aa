import type { Dirent } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  isInside,
  judge,
  neverBackedUp,
  PermanentFailure,
  type RuleSet,
  type SensitiveMatcher,
  type WalkMode,
} from '@fleet-backup/core';

export interface WalkRoot {
  /** The path as requested: metadata keys derive from it. */
  path: string;
  /** Files under a configuration source are classified as configuration. */
  config: boolean;
  /** The default exclusion rules plus those of the configured source the path falls under. */
  rules: RuleSet;
  /** The default sensitive-file globs plus the `sensitive` globs of that source. */
  sensitive: SensitiveMatcher;
}

export interface FoundFile {
  /** Logical absolute path (under the requested path). */
  path: string;
  /** Where to read the bytes (differs for a followed symlink). */
  readFrom: string;
  config: boolean;
  /**
   * The one switch for secrets: a sensitive file is encrypted on the agent before it is stored
   * (or skipped when no encryption key is configured), never copied in the clear.
   */
  sensitive?: boolean;
}

export interface SkippedItem {
  path: string;
  reason: string;
  /** Set for a skipped directory (nothing beneath it was read, bar what an include rescued). */
  dir?: true;
}

export interface WalkLimits {
  /** Never read our own copies. */
  backupRoot: string;
  /** Roots the agent may read at all. */
  allowedRoots: string[];
}

/**
 * Lists every regular file under the requested paths. A requested path that is missing,
 * unreadable, outside the agent's roots or inside the backup root is a PermanentFailure; inside a
 * tree, symlinks are followed only to files within the requested path, entries the exclusion
 * rules match are skipped with the rule (an excluded directory is not descended into), and
 * anything else that cannot be copied is skipped with its reason.
 */
export async function walk(
  roots: WalkRoot[],
  limits: WalkLimits,
): Promise<{ files: FoundFile[]; skipped: SkippedItem[] }> {
  const files = new Map<string, FoundFile>();
  const skipped: SkippedItem[] = [];
  for (const root of roots) {
    const real = await realRoot(root.path, limits);
    const add = (f: FoundFile) => {
      if (!files.has(f.path)) files.set(f.path, f);
    };
    const info = await stat(real);
    if (info.isDirectory()) await walkDir({ root, limits, add, skipped }, root.path, real, 'normal');
    else if (info.isFile()) {
      add(foundFile(root, root.path, real));
      await addDatabaseCompanions(root, add);
    } else skipped.push({ path: root.path, reason: 'not a regular file' });
  }
  return { files: [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1)), skipped };
}

async function realRoot(requested: string, limits: WalkLimits): Promise<string> {
  let real: string;
  try {
    real = await realpath(requested);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new PermanentFailure(`path ${requested} does not exist on this host`, { path: requested });
    if (code === 'EACCES')
      throw new PermanentFailure(`cannot read ${requested}: permission denied`, { path: requested });
    throw err;
  }
  if (!limits.allowedRoots.some((r) => isInside(real, r))) {
    throw new PermanentFailure(
      `path ${requested} resolves to ${real}, outside the roots this agent may read (${limits.allowedRoots.join(', ')})`,
      { path: requested },
    );
  }
  const never = neverBackedUp(requested) ?? neverBackedUp(real);
  if (never)
    throw new PermanentFailure(`path ${requested} is never backed up (${never})`, { path: requested });
  if (isInside(real, limits.backupRoot)) {
    throw new PermanentFailure(
      `path ${requested} is inside the backup root ${limits.backupRoot}; backups never include backups`,
      {
        path: requested,
      },
    );
  }
  return real;
}

interface DirWalk {
  root: WalkRoot;
  limits: WalkLimits;
  add: (f: FoundFile) => void;
  skipped: SkippedItem[];
}

async function walkDir(w: DirWalk, logical: string, real: string, mode: WalkMode): Promise<void> {
  const { skipped } = w;
  if (real === w.limits.backupRoot) {
    skipped.push({ path: logical, reason: 'the backup root itself', dir: true });
    return;
  }
  let entries: Dirent[];
  try {
    entries = await readdir(real, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return void skipped.push({ path: logical, reason: 'vanished during the backup' });
    if (code === 'EACCES')
      throw new PermanentFailure(`cannot list ${logical}: permission denied`, { path: logical });
    throw err;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const entry of entries) {
    const childLogical = path.posix.join(logical, entry.name);
    const childReal = path.join(real, entry.name);
    const isDir = entry.isDirectory();
    const verdict = judge(w.root.rules, childLogical, isDir, mode);
    if (!verdict.take) {
      if (!verdict.quiet)
        skipped.push({ path: childLogical, reason: verdict.reason, ...(isDir && { dir: true }) });
      // A default-excluded directory is entered only for what an include names in it.
      if (verdict.rescue) await walkDir(w, childLogical, childReal, 'rescue');
      continue;
    }
    const childMode = verdict.included ? 'included' : 'normal';
    if (isDir) await walkDir(w, childLogical, childReal, childMode);
    else if (entry.isFile()) w.add(foundFile(w.root, childLogical, childReal));
    else if (entry.isSymbolicLink()) await followLink(childLogical, childReal, w.root, w.add, skipped);
    else skipped.push({ path: childLogical, reason: 'not a regular file' });
  }
}

async function followLink(
  logical: string,
  link: string,
  root: WalkRoot,
  add: (f: FoundFile) => void,
  skipped: SkippedItem[],
): Promise<void> {
  const [target, rootReal] = await Promise.all([realpath(link).catch(() => null), realpath(root.path)]);
  if (target === null) return void skipped.push({ path: logical, reason: 'dangling symlink' });
  if (!isInside(target, rootReal)) {
    return void skipped.push({ path: logical, reason: `symlink points outside ${root.path} (to ${target})` });
  }
  const info = await lstat(target);
  if (!info.isFile())
    return void skipped.push({ path: logical, reason: 'symlink to a directory, not followed' });
  add(foundFile(root, logical, target));
}

/** A requested `.db` file brings its `-wal` and `-shm` along, as the seed keeps them together. */
async function addDatabaseCompanions(root: WalkRoot, add: (f: FoundFile) => void): Promise<void> {
  if (!root.path.endsWith('.db')) return;
  for (const suffix of ['-wal', '-shm']) {
    const companion = `${root.path}${suffix}`;
    const info = await stat(companion).catch(() => null);
    if (info?.isFile()) add(foundFile(root, companion, companion));
  }
}

function foundFile(root: WalkRoot, logical: string, readFrom: string): FoundFile {
  return { path: logical, readFrom, config: root.config, sensitive: root.sensitive.match(logical) !== null };
}
