import { notEndedSql } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

export interface TargetBytes {
  target: string;
  /** Blobs that no backup left behind references: gc deletes them once the grace period is over. */
  blobs: number;
  bytes: number;
}

export interface BytesFreed {
  /** Per backup: the size of its local directory (every file; local copies are not deduplicated). */
  local: Map<string, number>;
  /** Per target holding any of them, by name. */
  targets: TargetBytes[];
}

/**
 * What removing `going` frees. Blobs are shared by every backup holding the same bytes, so a
 * target gains only the blobs that no other backup still references once these are gone;
 * sizes come from what Postgres knows each target holds (target_blobs).
 */
export async function bytesFreed(q: Queryable, going: string[]): Promise<BytesFreed> {
  const local = await q.query<{ id: string; bytes: number }>(
    `SELECT backup_id AS id, COALESCE(sum(size), 0)::bigint AS bytes FROM backup_files
     WHERE backup_id = ANY($1::uuid[]) GROUP BY backup_id`,
    [going],
  );
  const targets = await q.query<TargetBytes>(
    `WITH files AS (SELECT DISTINCT blob_sha256 AS sha256 FROM backup_files WHERE backup_id = ANY($1::uuid[])),
     gone AS (SELECT sha256 FROM files
              UNION SELECT bc.chunk_sha256 FROM blob_chunks bc JOIN files ON files.sha256 = bc.blob_sha256)
     SELECT tb.target, count(*)::int AS blobs, COALESCE(sum(tb.size), 0)::bigint AS bytes
     FROM target_blobs tb JOIN gone g ON g.sha256 = tb.sha256
     WHERE NOT EXISTS (
       SELECT 1 FROM backup_files f JOIN backups b ON b.id = f.backup_id
       WHERE (f.blob_sha256 = tb.sha256
              OR f.blob_sha256 IN (SELECT blob_sha256 FROM blob_chunks WHERE chunk_sha256 = tb.sha256))
         AND NOT (b.id = ANY($1::uuid[])) AND ${notEndedSql('b')})
     GROUP BY tb.target ORDER BY tb.target`,
    [going],
  );
  return {
    local: new Map(local.rows.map((r) => [r.id, r.bytes])),
    targets: targets.rows,
  };
}
