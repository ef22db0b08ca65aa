import type { BackupKind, BackupStatus } from '@fleet-backup/core';
import { copyReadSinceSql } from './copy-coverage.ts';
import { keptSql, SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/** One kept backup as the report lists it. */
export interface ReportBackup {
  id: string;
  host: string;
  kind: BackupKind;
  key: string;
  status: BackupStatus;
  created: Date;
  ticket: string | null;
  /** The oldest verification among its copies (null when a copy never verified). */
  verifiedAt: Date | null;
  /** The 3-2-1 summary line. */
  compliance: string;
}

export interface HostStorage {
  host: string;
  backups: number;
  /** Sum of its kept backups' files: what its local directories hold. */
  localBytes: number;
  /** Its distinct file contents: what it takes on each target it reaches, at most. */
  uniqueBytes: number;
  /**
   * What its local directories take on disk: each file version's stored bytes counted once, since
   * the backups a version spans share one hardlinked copy (a file that could not be linked is
   * undercounted).
   */
  diskBytes: number;
}

export interface TargetStorage {
  target: string;
  blobs: number;
  bytes: number;
}

const BACKUP_COLUMNS = `b.id, b.host, b.kind, b.key, b.status, b.created_at, b.request->>'ticket' AS ticket,
  b.compliance->>'summary' AS compliance,
  (SELECT CASE WHEN bool_and(c.verified_at IS NOT NULL) THEN min(c.verified_at) END
     FROM backup_copies c WHERE c.backup_id = b.id) AS verified_at`;

/** Read-only queries behind `report`: storage and the lists of backups needing attention. */
export const reportQueries = {
  /** Storage by host, from the metadata of kept backups. */
  async hostStorage(q: Queryable): Promise<HostStorage[]> {
    const r = await q.query<HostStorage>(
      `SELECT b.host, count(DISTINCT b.id)::int AS backups, COALESCE(sum(f.size), 0)::bigint AS "localBytes",
              COALESCE((SELECT sum(u.size) FROM (
                SELECT DISTINCT f2.sha256, f2.size FROM backup_files f2 JOIN backups b2 ON b2.id = f2.backup_id
                WHERE b2.host = b.host AND ${keptSql('b2')}
              ) u), 0)::bigint AS "uniqueBytes",
              COALESCE((SELECT sum(COALESCE(v.stored_size, v.size)) FROM file_versions v
                JOIN backup_series s ON s.id = v.series_id
                WHERE s.host = b.host AND EXISTS (
                  SELECT 1 FROM backups b3 WHERE b3.series_id = v.series_id AND ${keptSql('b3')}
                    AND b3.seq BETWEEN v.first_seq AND COALESCE(v.last_seq, 2147483647))
              ), 0)::bigint AS "diskBytes"
       FROM backups b LEFT JOIN backup_files f ON f.backup_id = b.id
       WHERE ${SQL_KEPT} GROUP BY b.host ORDER BY b.host`,
    );
    return r.rows;
  },

  /** Storage by target, from what Postgres records each target holds. */
  async targetStorage(q: Queryable): Promise<TargetStorage[]> {
    const r = await q.query<TargetStorage>(
      `SELECT target, count(*)::int AS blobs, COALESCE(sum(size), 0)::bigint AS bytes
       FROM target_blobs GROUP BY target ORDER BY target`,
    );
    return r.rows;
  },

  /**
   * Kept backups that never verified, or whose oldest copy verification is older than `before`.
   * Incomplete ones are left to their own section: verifying again cannot make them whole.
   */
  async needingVerification(q: Queryable, before: Date): Promise<ReportBackup[]> {
    return backups(
      q,
      `WHERE ${SQL_KEPT} AND b.status NOT IN ('running', 'incomplete') AND (b.status <> 'verified' OR EXISTS (
         SELECT 1 FROM backup_copies c WHERE c.backup_id = b.id
           AND (c.verified_at IS NULL OR (c.verified_at < $1 AND NOT ${copyReadSinceSql('$1')}))))
       ORDER BY b.created_at, b.host, b.key`,
      [before],
    );
  },

  /** Kept pre-change backups whose change is not verified yet, oldest first. */
  async waitingForChange(q: Queryable): Promise<ReportBackup[]> {
    return backups(
      q,
      `WHERE ${SQL_KEPT} AND b.kind = 'pre_change' AND b.change_verified_at IS NULL
       ORDER BY b.created_at, b.host, b.key`,
    );
  },

  /** Kept backups whose pipeline ended without meeting 3-2-1. */
  async not321(q: Queryable): Promise<ReportBackup[]> {
    return backups(
      q,
      `WHERE ${SQL_KEPT} AND b.status <> 'running' AND COALESCE((b.compliance->>'ok')::boolean, false) = false
       ORDER BY b.created_at, b.host, b.key`,
    );
  },
};

async function backups(q: Queryable, where: string, params: unknown[] = []): Promise<ReportBackup[]> {
  const r = await q.query(`SELECT ${BACKUP_COLUMNS} FROM backups b ${where}`, params);
  return r.rows.map((row: Record<string, unknown>) => ({
    id: row.id as string,
    host: row.host as string,
    kind: row.kind as BackupKind,
    key: row.key as string,
    status: row.status as BackupStatus,
    created: row.created_at as Date,
    ticket: (row.ticket as string | null) ?? null,
    verifiedAt: (row.verified_at as Date | null) ?? null,
    compliance: (row.compliance as string | null) ?? '',
  }));
}
