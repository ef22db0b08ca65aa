import type { BackupKind, BackupStatus, MassChange, SharpDrop } from '@fleet-backup/core';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/** The snapshot a new one is measured against: which backup, and what it held. */
export interface PreviousSnapshot {
  id: string;
  key: string;
  files: number;
  bytes: number;
}

/** A kept backup the completeness check flagged, as `report` lists it. */
export interface FlaggedBackup {
  id: string;
  host: string;
  kind: BackupKind;
  key: string;
  status: BackupStatus;
  created: Date;
  missing: string[];
  sharpDrop: SharpDrop | null;
  massChange: MassChange | null;
}

/** Queries behind the completeness check and its sections of `report`. */
export const completenessQueries = {
  /**
   * The backup a new snapshot is compared with: the host's newest earlier backup that asked for
   * the same paths (as a set, whatever their order) and whose snapshot finished, failed ones
   * left out (a failed pipeline may hold a partial file list). Any kind counts: a manual backup
   * of the daily's paths says as much about the host's files as a daily. Expired ones count
   * too: their file rows stay, and they are what the host held then.
   */
  async previousSnapshot(
    q: Queryable,
    backup: { id: string; host: string; key: string; createdAt: Date; paths: string[] },
  ): Promise<PreviousSnapshot | null> {
    const r = await q.query<PreviousSnapshot>(
      `SELECT b.id, b.key,
              (SELECT count(*) FROM backup_files f WHERE f.backup_id = b.id)::int AS files,
              (SELECT COALESCE(sum(f.size), 0) FROM backup_files f WHERE f.backup_id = b.id)::bigint AS bytes
       FROM backups b
       WHERE b.host = $1 AND b.id <> $2 AND (b.created_at, b.key) < ($3, $4) AND b.status <> 'failed'
         AND (b.request->'paths') @> $5::jsonb AND $5::jsonb @> (b.request->'paths')
         AND EXISTS (SELECT 1 FROM backup_stages s
                     WHERE s.backup_id = b.id AND s.stage = 'snapshot' AND s.status = 'done')
       ORDER BY b.created_at DESC, b.key DESC LIMIT 1`,
      [backup.host, backup.id, backup.createdAt, backup.key, JSON.stringify(backup.paths)],
    );
    return r.rows[0] ?? null;
  },

  /**
   * Of the previous backup's files, how many the new one does not hold with the same content at
   * the same path (changed in place, renamed or deleted): one pass over both file lists by their
   * primary key.
   */
  async changedSince(
    q: Queryable,
    backupId: string,
    previousId: string,
  ): Promise<{ before: number; changed: number }> {
    const r = await q.query<{ before: number; changed: number }>(
      `SELECT count(*)::int AS before, count(*) FILTER (WHERE c.sha256 IS DISTINCT FROM p.sha256)::int AS changed
       FROM backup_files p LEFT JOIN backup_files c ON c.backup_id = $1 AND c.path = p.path
       WHERE p.backup_id = $2`,
      [backupId, previousId],
    );
    return r.rows[0]!;
  },

  /** Kept backups whose snapshot found required files missing, newest first. */
  incomplete(q: Queryable): Promise<FlaggedBackup[]> {
    return flagged(q, `b.missing <> '[]'::jsonb`);
  },

  /** Kept backups flagged as a sharp drop, newest first. */
  sharpDrops(q: Queryable): Promise<FlaggedBackup[]> {
    return flagged(q, 'b.sharp_drop IS NOT NULL');
  },

  /** Kept backups flagged as a mass change, newest first. */
  massChanges(q: Queryable): Promise<FlaggedBackup[]> {
    return flagged(q, 'b.mass_change IS NOT NULL');
  },
};

async function flagged(q: Queryable, condition: string): Promise<FlaggedBackup[]> {
  const r = await q.query(
    `SELECT b.id, b.host, b.kind, b.key, b.status, b.created_at, b.missing, b.sharp_drop, b.mass_change FROM backups b
     WHERE ${SQL_KEPT} AND ${condition} ORDER BY b.created_at DESC, b.host, b.key`,
  );
  return r.rows.map((row: Record<string, unknown>) => ({
    id: row.id as string,
    host: row.host as string,
    kind: row.kind as BackupKind,
    key: row.key as string,
    status: row.status as BackupStatus,
    created: row.created_at as Date,
    missing: row.missing as string[],
    sharpDrop: (row.sharp_drop as SharpDrop | null) ?? null,
    massChange: (row.mass_change as MassChange | null) ?? null,
  }));
}
