import path from 'node:path';
import { Minimatch } from 'minimatch';
import { isInside } from './paths.ts';

export type ExclusionCategory = 'archive' | 'temp' | 'cache' | 'logs' | 'generated';

export interface DefaultRule {
  category: ExclusionCategory;
  /** As written in the issue and shown to operators. */
  pattern: string;
  /** The glob actually matched, when the pattern's shorthand needs spelling out. */
  glob?: string;
  /** Never overridable by an include: our own copies must not recurse into backups. */
  always?: true;
}

/**
 * What is never backed up by default (the seed: archives, temporary files, caches, logs and
 * generated files). Pattern syntax, gitignore-like: `name` matches an entry's name at any depth,
 * `name/` only directories, `/abs` an absolute path, and a glob with a `/` a path relative to
 * the walked root; `dir/**` also matches `dir` itself, so the walk never descends into it.
 */
export const DEFAULT_EXCLUSIONS: readonly DefaultRule[] = [
  { category: 'archive', pattern: '/archive', always: true },
  { category: 'archive', pattern: '**/archive/**' },
  { category: 'temp', pattern: '*.tmp' },
  { category: 'temp', pattern: '*.temp' },
  { category: 'temp', pattern: '*.swp' },
  { category: 'temp', pattern: 'tmp/' },
  { category: 'temp', pattern: 'temp/' },
  { category: 'cache', pattern: '.cache/' },
  { category: 'cache', pattern: 'cache/' },
  { category: 'cache', pattern: '__pycache__/' },
  { category: 'logs', pattern: '*.log' },
  { category: 'logs', pattern: '*.log.N', glob: '*.log.+([0-9])' },
  { category: 'logs', pattern: 'logs/' },
  { category: 'generated', pattern: 'dist/' },
  { category: 'generated', pattern: 'build/' },
  { category: 'generated', pattern: 'node_modules/' },
  { category: 'generated', pattern: '*.pyc' },
  { category: 'generated', pattern: 'coverage/' },
];

/** One compiled glob of the syntax above. */
interface Glob {
  pattern: string;
  /** Matches the entry (absolute path, or relative to `base` when `relative`). */
  test(entry: string, isDir: boolean, base: string): boolean;
  /** Whether something beneath the directory could match (to rescue files from an excluded dir). */
  reachesBelow(dir: string, base: string): boolean;
}

// dot: dotfiles are ordinary files to a backup; `.env.log` is a log like any other.
const OPTIONS = { dot: true } as const;

function compileGlob(pattern: string, glob = pattern): Glob {
  const dirOnly = glob.endsWith('/');
  const body = dirOnly ? glob.slice(0, -1) : glob;
  if (!body.includes('/')) {
    const name = new Minimatch(body, OPTIONS);
    return {
      pattern,
      test: (entry, isDir) => (isDir || !dirOnly) && name.match(path.posix.basename(entry)),
      reachesBelow: () => true,
    };
  }
  const absolute = body.startsWith('/');
  const full = new Minimatch(body, OPTIONS);
  // `dir/**` names everything in dir: matching dir itself lets the walk prune it.
  const self = body.endsWith('/**') ? new Minimatch(body.slice(0, -3), OPTIONS) : null;
  const subject = (entry: string, base: string) => (absolute ? entry : path.posix.relative(base, entry));
  return {
    pattern,
    test(entry, isDir, base) {
      const s = subject(entry, base);
      if (s === '' || s.startsWith('..')) return false;
      return (isDir || !dirOnly) && (full.match(s) || (isDir && self?.match(s) === true));
    },
    reachesBelow(dir, base) {
      const s = subject(dir, base);
      if (s.startsWith('..')) return false;
      return s === '' || full.match(s, true);
    },
  };
}

const DEFAULTS = DEFAULT_EXCLUSIONS.filter((r) => !r.always).map((r) => ({
  rule: r,
  glob: compileGlob(r.pattern, r.glob),
}));
const ALWAYS = DEFAULT_EXCLUSIONS.filter((r) => r.always);

/** The reason an item is skipped, as stored with the backup and shown by `plan`. */
const defaultReason = (r: DefaultRule) => `excluded by default rule ${r.category}: ${r.pattern}`;

/** A source's own include/exclude globs, relative ones resolved against the source's path. */
export interface SourceRules {
  path: string;
  include?: string[];
  exclude?: string[];
}

/** The rules one walked root is judged by: the defaults plus its configured source's globs. */
export interface RuleSet {
  /** Relative default globs are matched from here (the requested path). */
  walkRoot: string;
  /** Relative source globs are matched from here (the configured source's path). */
  sourceRoot: string;
  includes: Glob[];
  excludes: Glob[];
}

export function ruleSet(walkRoot: string, source?: SourceRules): RuleSet {
  return {
    walkRoot,
    sourceRoot: source?.path ?? walkRoot,
    includes: (source?.include ?? []).map((g) => compileGlob(g)),
    excludes: (source?.exclude ?? []).map((g) => compileGlob(g)),
  };
}

export type Judgement =
  | { take: true /** An include matched: everything beneath a directory is taken too. */; included: boolean }
  | {
      take: false;
      reason: string;
      /** An include may still match beneath this directory: walk it for included entries only. */
      rescue: boolean;
      /** Covered by the skipped directory it lies in: not listed again. */
      quiet: boolean;
    };

/**
 * Where an entry lies: `normal`; `included` beneath a directory an include matched; `rescue`
 * beneath a default-excluded directory walked only for the entries an include matches.
 */
export type WalkMode = 'normal' | 'included' | 'rescue';

/**
 * Decides one entry beneath a walked root. Order: `/archive` (never), the source's excludes,
 * the source's includes (an explicit include beats a default exclude), then the defaults.
 */
export function judge(rules: RuleSet, entry: string, isDir: boolean, mode: WalkMode = 'normal'): Judgement {
  const quiet = mode === 'rescue';
  const never = neverBackedUp(entry);
  if (never) return { take: false, reason: never, rescue: false, quiet };
  const { sourceRoot, walkRoot } = rules;
  const excluded = rules.excludes.find((g) => g.test(entry, isDir, sourceRoot));
  if (excluded)
    return { take: false, reason: `excluded by source rule: ${excluded.pattern}`, rescue: false, quiet };
  if (mode === 'included' || rules.includes.some((g) => g.test(entry, isDir, sourceRoot)))
    return { take: true, included: true };
  const rescue = isDir && rules.includes.some((g) => g.reachesBelow(entry, sourceRoot));
  if (quiet) return { take: false, reason: 'not included', rescue, quiet };
  const hit = DEFAULTS.find((d) => d.glob.test(entry, isDir, walkRoot));
  if (!hit) return { take: true, included: false };
  return { take: false, reason: defaultReason(hit.rule), rescue, quiet };
}

/** The reason a path is never backed up whatever the configuration (`/archive`), or null. */
export function neverBackedUp(p: string): string | null {
  const hit = ALWAYS.find((r) => isInside(p, r.pattern));
  return hit ? defaultReason(hit) : null;
}
