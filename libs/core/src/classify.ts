import { createHash } from 'node:crypto';
import path from 'node:path';

export type FileClass = 'database' | 'config' | 'general';

export const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * How a snapshot's note begins for a database SQLite could not read and that was copied byte for
 * byte instead: a restore drill looks for it to know which databases were never SQLite-checked.
 */
export const COPIED_PLAIN_NOTE = 'copied as a plain file';

/** Extensions that mark a configuration file; anything under a configuration source counts too. */
const CONFIG_EXTENSIONS = new Set([
  '.conf',
  '.config',
  '.ini',
  '.yaml',
  '.yml',
  '.toml',
  '.env',
  '.properties',
]);

/** SQLite's companion files travel with their database under their own names. */
const DATABASE_COMPANION = /\.db-(wal|shm|journal)$/;

/**
 * The classification table. Rules, in order:
 * 1. database: a SQLite header, a `.db` name, or a `.db-wal` / `.db-shm` / `.db-journal` companion;
 * 2. config: a config extension, a `.env` / `.env.*` name, or any file under a configuration source;
 * 3. general: everything else.
 */
export function classify(filePath: string, head: Uint8Array, underConfigSource: boolean): FileClass {
  const base = path.posix.basename(filePath);
  const ext = path.posix.extname(base).toLowerCase();
  if (ext === '.db' || DATABASE_COMPANION.test(base) || startsWithSqliteHeader(head)) return 'database';
  if (underConfigSource || CONFIG_EXTENSIONS.has(ext) || base === '.env' || base.startsWith('.env.')) {
    return 'config';
  }
  return 'general';
}

function startsWithSqliteHeader(head: Uint8Array): boolean {
  return head.length >= SQLITE_HEADER.length && SQLITE_HEADER.equals(head.subarray(0, SQLITE_HEADER.length));
}

/** Longest file name Linux filesystems take, in bytes. */
export const NAME_MAX = 255;

/** How much of an over-long name its stand-in keeps, in bytes, so an operator still recognises it. */
const STAND_IN_PREFIX_BYTES = 96;

/**
 * Where a source file lives inside its backup directory: its absolute path without the leading
 * slash (as tar and restic do) plus the class suffix. Suffixes are always appended, never
 * skipped when already present, so two distinct sources can never map to one stored path.
 *
 * A name that the suffix would push past NAME_MAX (a 252-byte `x` cannot be stored as
 * `x.bak`) is stored under a stand-in: the start of the name, `~`, 16 hex digits of the sha256
 * of the whole name, and the suffix. The stand-in is deterministic, so every backup of the file
 * stores it alike, and the catalog and the manifest map it back to the real name for a restore.
 */
export function storedPath(absolutePath: string, cls: FileClass): string {
  const rel = metadataPath(absolutePath);
  const suffix = classSuffix(rel, cls);
  const slash = rel.lastIndexOf('/');
  const name = rel.slice(slash + 1);
  if (Buffer.byteLength(name) + suffix.length <= NAME_MAX) return `${rel}${suffix}`;
  return `${rel.slice(0, slash + 1)}${standInName(name)}${suffix}`;
}

function classSuffix(rel: string, cls: FileClass): string {
  if (cls === 'config') return '.config';
  if (cls === 'general') return '.bak';
  // Databases keep `.db` (and companions keep their names); a SQLite file named otherwise gains it.
  return rel.endsWith('.db') || DATABASE_COMPANION.test(rel) ? '' : '.db';
}

/** The first bytes of the name, cut on a character boundary, then `~` and a hash of all of it. */
function standInName(name: string): string {
  let prefix = '';
  for (const ch of name) {
    if (Buffer.byteLength(prefix + ch) > STAND_IN_PREFIX_BYTES) break;
    prefix += ch;
  }
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return `${prefix}~${digest}`;
}

/** The metadata key of a source file: its absolute path without the leading slash. */
export function metadataPath(absolutePath: string): string {
  return absolutePath.replace(/^\/+/, '');
}
