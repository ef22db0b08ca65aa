import { LOCAL_COPY } from '@fleet-backup/core';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';
import { type FileRow, toFile } from './rows.ts';

/** The backup an incremental snapshot may link unchanged files from. */
export interface PreviousBackup {
  id: string;
  key: string;
}

/**
 * The host's latest backup of the same series (same host, kind and requested paths) whose local
 * copy is verified and that is kept, created before `before`: the one whose stored copies a new
 * snapshot may hardlink for unchanged files. Null when there is none.
 */
export async function previousVerifiedBackup(
  q: Queryable,
  of: { id: string; host: string; kind: string; paths: string[]; before: Date },
): Promise<PreviousBackup | null> {
  const r = await q.query<PreviousBackup>(
    `SELECT b.id, b.key FROM backups b
     JOIN backup_copies c ON c.backup_id = b.id AND c.target = $5 AND c.status = 'verified'
     WHERE b.host = $1 AND b.kind = $2 AND b.request->'paths' = $3::jsonb AND b.id <> $4
       AND b.created_at <= $6 AND ${SQL_KEPT}
     ORDER BY b.created_at DESC, b.key DESC LIMIT 1`,
    [of.host, of.kind, JSON.stringify(of.paths), of.id, LOCAL_COPY, of.before],
  );
  return r.rows[0] ?? null;
}

/**
 * Keys of the series' backups (same host, kind and requested paths) created before this one, kept
 * or not: once this one's local copy is verified, previousVerifiedBackup never picks them again
 * while it stands, so their source indexes are dead weight.
 */
export async function olderInSeries(
  q: Queryable,
  of: { id: string; host: string; kind: string; paths: string[]; before: Date },
): Promise<string[]> {
  const r = await q.query<{ key: string }>(
    `SELECT key FROM backups
     WHERE host = $1 AND kind = $2 AND request->'paths' = $3::jsonb AND id <> $4 AND created_at <= $5`,
    [of.host, of.kind, JSON.stringify(of.paths), of.id, of.before],
  );
  return r.rows.map((row) => row.key);
}

/** Every file row of a backup, by metadata path: what a linked file carries over (authoritative). */
export async function previousFiles(q: Queryable, backupId: string): Promise<Map<string, FileRow>> {
  const r = await q.query('SELECT * FROM backup_files WHERE backup_id = $1', [backupId]);
  return new Map(r.rows.map((row) => [row.path as string, toFile(row)]));
}

/** A stored file of another kept backup of the host that may be the same inode as a bad one. */
export interface SharedCandidate {
  backupId: string;
  key: string;
  storedPath: string;
}

/**
 * Other kept backups of the host recording the same stored path with the same stored bytes as
 * this one: where a hardlinked copy of it may be. The caller compares inodes on disk.
 */
export async function sameStoredFile(
  q: Queryable,
  of: { host: string; backupId: string; storedPath: string; blobSha256: string },
): Promise<SharedCandidate[]> {
  const r = await q.query<SharedCandidate>(
    `SELECT f.backup_id AS "backupId", b.key, f.stored_path AS "storedPath"
     FROM backup_files f JOIN backups b ON b.id = f.backup_id
     WHERE b.host = $1 AND f.backup_id <> $2 AND f.stored_path = $3 AND f.blob_sha256 = $4 AND ${SQL_KEPT}`,
    [of.host, of.backupId, of.storedPath, of.blobSha256],
  );
  return r.rows;
}
