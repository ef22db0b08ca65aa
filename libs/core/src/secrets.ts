import { createHash, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import { Minimatch } from 'minimatch';

/**
 * Names of values that are secret (environment variables, generated key/value content): the
 * issue's four patterns, matched case-insensitively against the whole name (`*KEY*` takes
 * `API_KEY`, `ssh_key_path` and `KEYRING` alike: for a NAME a false positive only costs an
 * encryption, a false negative leaks a credential). Configurable through `secretPatterns`.
 */
export const DEFAULT_SECRET_PATTERNS: readonly string[] = ['*TOKEN*', '*SECRET*', '*PASSWORD*', '*KEY*'];

const namePatternCache = new Map<string, Minimatch>();

function namePattern(pattern: string): Minimatch {
  let m = namePatternCache.get(pattern);
  if (!m) {
    m = new Minimatch(pattern, { nocase: true, dot: true, noglobstar: true });
    namePatternCache.set(pattern, m);
  }
  return m;
}

/** Whether a variable's name marks its value as secret (case-insensitive glob over the whole name). */
export function isSecretName(name: string, patterns: readonly string[] = DEFAULT_SECRET_PATTERNS): boolean {
  return patterns.some((p) => namePattern(p).match(name));
}

/**
 * Files that are sensitive by default, matched case-insensitively by name at any depth. A curated
 * list rather than the name patterns above: file names are far noisier than variable names, and
 * `*KEY*` would flag `monkey.txt`, `keyboard.conf` or `turkey.jpg`. These are the usual homes of
 * private keys, tokens and credentials; a source adds its own with `sensitive` globs. `*token*`
 * and `*secret*` still catch a few innocents (`tokenizer.py`): that costs them only their
 * deduplication, whereas a miss would put a credential in the clear on every target.
 */
export const DEFAULT_SENSITIVE_FILES: readonly string[] = [
  // Private keys and key stores.
  '*.pem',
  '*.key',
  '*.p12',
  '*.pfx',
  '*.jks',
  '*.keystore',
  '*.kdbx',
  'id_rsa*',
  'id_dsa*',
  'id_ecdsa*',
  'id_ed25519*',
  // Environment files and credential stores.
  '.env',
  '.env.*',
  '.netrc',
  '.pgpass',
  '.git-credentials',
  'credentials*',
  // Tokens and secrets by name.
  '*.token',
  '*token*',
  '*secret*',
];

/**
 * The start of the skip reason of a sensitive item left out because no encryption key is
 * configured; `report` finds these by it.
 */
export const SENSITIVE_SKIPPED = 'sensitive, no encryption key configured:';

/** The recorded reason a sensitive item was not copied. */
export const SENSITIVE_SKIP_REASON = `${SENSITIVE_SKIPPED} not copied (never stored in the clear); set ENCRYPTION_KEY to back it up encrypted`;

/** Decides which files are sensitive: the defaults plus a source's own globs. */
export interface SensitiveMatcher {
  /** The glob that flags `filePath` (or, for a SQLite companion, its database), or null. */
  match(filePath: string): string | null;
}

/** SQLite's files beside a database hold the same pages as the database itself. */
const SQLITE_COMPANION = /-(wal|shm|journal)$/;

/**
 * Compiles the default sensitive-file globs plus `extra` (a source's `sensitive` config).
 * Syntax as for exclusion rules: a glob without `/` matches a file's name at any depth, one
 * starting with `/` an absolute path, any other glob with `/` a path relative to `sourceRoot`.
 * Matching ignores case: `ID_RSA` on a case-insensitive mount is the same key. A database's
 * `-wal` / `-shm` / `-journal` is as sensitive as the database: a glob `*.db` flags `x.db-wal` too,
 * or a live WAL would be copied in the clear beside a database skipped for want of a key.
 */
export function sensitiveMatcher(sourceRoot: string, extra: readonly string[] = []): SensitiveMatcher {
  const globs = [...DEFAULT_SENSITIVE_FILES, ...extra].map((pattern) => ({
    pattern,
    byName: !pattern.includes('/'),
    absolute: pattern.startsWith('/'),
    m: new Minimatch(pattern, { nocase: true, dot: true }),
  }));
  const matchOne = (filePath: string): string | null => {
    const name = path.posix.basename(filePath);
    const relative = path.posix.relative(sourceRoot, filePath);
    for (const g of globs) {
      const subject = g.byName ? name : g.absolute ? filePath : relative;
      if (!g.byName && !g.absolute && (relative === '' || relative.startsWith('..'))) continue;
      if (g.m.match(subject)) return g.pattern;
    }
    return null;
  };
  return {
    match(filePath) {
      const database = filePath.replace(SQLITE_COMPANION, '');
      return matchOne(filePath) ?? (database !== filePath ? matchOne(database) : null);
    },
  };
}

/** Constant-time comparison of two secrets that does not leak the length either (both sides hashed first). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}
