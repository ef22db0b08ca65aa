import { isGeneratedItem, SENSITIVE_SKIP_REASON } from '@fleet-backup/core';
import type { FoundFile } from './found.ts';

/** SQLite's files beside a database: its write-ahead log, shared-memory index and rollback journal. */
const COMPANION = /^(.*)-(wal|shm|journal)$/;

/** What the take-or-skip decision depends on besides the file itself. */
export interface CaptureDecisions {
  /** The key sensitive items are encrypted with; null: they are skipped unread. */
  keyId: string | null;
  /**
   * Databases taken through SQLite so far, by logical path. The snapshot adds each once SQLite
   * has copied it; `plan`, which runs nothing, adds each `.db` or SQLite-headed file it would try.
   */
  sqliteSnapshots: Set<string>;
}

/**
 * The one rule, for the snapshot and for `plan` alike, that decides whether a found file is taken
 * or skipped beyond the exclusion rules (which the walk applies). Returns the reason to record,
 * or null to take it. Files must come in path order, so `x.db` is decided (and snapshotted)
 * before `x.db-wal`.
 * - a sensitive file without an encryption key is not copied at all, never in the clear;
 * - a database's `-wal` / `-shm` / `-journal` beside a SQLite snapshot of it is not stored: the
 *   snapshot already holds every committed transaction, and a raw copy of a live companion could
 *   be torn and would mislead whoever restores;
 * - a host file at a generated item's name (`/environment.config`…) is not stored, so a restore
 *   can never take one for the other (a backup that generates them refuses it outright).
 */
export function skipReason(file: FoundFile, d: CaptureDecisions): string | null {
  if (file.sensitive && d.keyId === null) return SENSITIVE_SKIP_REASON;
  const companion = COMPANION.exec(file.path);
  if (companion?.[1] && d.sqliteSnapshots.has(companion[1])) {
    return `SQLite -${companion[2]} file of ${companion[1]}: not stored, the SQLite snapshot of ${companion[1]} already holds its committed transactions`;
  }
  if (file.from.kind === 'tree' && isGeneratedItem(file.path)) {
    return `a host file at the name of a generated item (${file.path.slice(1)}): not stored, so a restore can never take one for the other; rename it`;
  }
  return null;
}

/** `x.db-wal`, `x.db-shm`, `x.db-journal`: never snapshotted through SQLite themselves. */
export function isDatabaseCompanion(path: string): boolean {
  return COMPANION.test(path);
}

/** The database a companion belongs to, if any (`/a/x.db-wal` → `/a/x.db`). */
export function companionOf(path: string): string | null {
  return COMPANION.exec(path)?.[1] ?? null;
}
