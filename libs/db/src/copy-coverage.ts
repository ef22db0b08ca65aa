import { LOCAL_COPY } from '@fleet-backup/core';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/**
 * SQL condition on a copy row `c` of backup `b`: read back in full, and good, since the timestamp
 * parameter: every file of the local copy (the hash stage counts), or every blob of a target copy
 * and its manifest. The rolling re-check reads copies a slice at a time, so this, not
 * `verified_at`, says when a copy was last proven whole.
 */
export const copyReadSinceSql = (param: string) => `(CASE WHEN c.target = '${LOCAL_COPY}'
  THEN NOT EXISTS (SELECT 1 FROM backup_files f WHERE f.backup_id = b.id
                     AND COALESCE(f.local_checked_at, f.hashed_at, '-infinity') < ${param})
  ELSE COALESCE(c.checked_at, c.verified_at, '-infinity') >= ${param}
   AND NOT EXISTS (SELECT 1 FROM backup_files f
                   LEFT JOIN target_blobs own ON own.target = c.target AND own.sha256 = f.blob_sha256
                   CROSS JOIN LATERAL (${STORED_PIECES_SQL}) t
                   WHERE f.backup_id = b.id AND (t.checked_at IS NULL OR t.checked_at < ${param} OR t.bad_at IS NOT NULL))
  END)`;

/**
 * What a target stores for file blob `f.blob_sha256` (its own row `own`, left-joined): that row,
 * or else each of its chunks' rows (a row of nulls for one the target lacks), or else one row of
 * nulls (the target holds nothing for it).
 */
const STORED_PIECES_SQL = `SELECT own.checked_at, own.bad_at WHERE own.sha256 IS NOT NULL
  UNION ALL
  SELECT ct.checked_at, ct.bad_at FROM blob_chunks bc
    LEFT JOIN target_blobs ct ON ct.target = c.target AND ct.sha256 = bc.chunk_sha256
    WHERE own.sha256 IS NULL AND bc.blob_sha256 = f.blob_sha256
  UNION ALL
  SELECT NULL::timestamptz, NULL::timestamptz WHERE own.sha256 IS NULL
    AND NOT EXISTS (SELECT 1 FROM blob_chunks bc WHERE bc.blob_sha256 = f.blob_sha256)`;

/** One copy kind's stored bytes, and how many of them were read back since a date. */
export interface CopyCoverage {
  /** 'local' (every host's local copies together) or a target name. */
  copy: string;
  bytes: number;
  checkedBytes: number;
  /** Bytes read back from the target per day by verify and the re-read, averaged over the last 7 days (0 for local). */
  readPerDay: number;
}

/**
 * Bytes each copy holds and bytes read back since `since`: every target's blobs (a blob counts
 * once however many backups hold it; one marked bad counts as not read good), and the local
 * copies of kept backups (the hash stage's read counts).
 */
export async function recheckCoverage(q: Queryable, since: Date, now = new Date()): Promise<CopyCoverage[]> {
  const r = await q.query<CopyCoverage>(
    `SELECT target AS copy, COALESCE(sum(size), 0)::bigint AS bytes,
            COALESCE(sum(size) FILTER (WHERE checked_at >= $1 AND bad_at IS NULL), 0)::bigint AS "checkedBytes",
            (SELECT COALESCE(sum(r.bytes), 0) / 7 FROM target_reads r
             WHERE r.target = tb.target AND r.day > ($2::timestamptz AT TIME ZONE 'UTC')::date - 7)::bigint AS "readPerDay"
     FROM target_blobs tb GROUP BY target
     UNION ALL
     SELECT 'local', COALESCE(sum(COALESCE(f.stored_size, f.size)), 0)::bigint,
            COALESCE(sum(COALESCE(f.stored_size, f.size))
              FILTER (WHERE COALESCE(f.local_checked_at, f.hashed_at) >= $1), 0)::bigint, 0
     FROM backup_files f JOIN backups b ON b.id = f.backup_id
     WHERE f.hashed_at IS NOT NULL AND ${SQL_KEPT}
     ORDER BY 1`,
    [since, now],
  );
  return r.rows.map((row) => ({
    ...row,
    bytes: Number(row.bytes),
    checkedBytes: Number(row.checkedBytes),
    readPerDay: Number(row.readPerDay),
  }));
}
