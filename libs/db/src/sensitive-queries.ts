import { type BackupKind, type BackupStatus, SENSITIVE_SKIPPED } from '@fleet-backup/core';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/** A sensitive item a kept backup left out because no encryption key was configured. */
export interface SensitiveSkip {
  id: string;
  host: string;
  kind: BackupKind;
  key: string;
  status: BackupStatus;
  created: Date;
  path: string;
}

/** The query behind report's "sensitive items skipped (no encryption key)". */
export const sensitiveQueries = {
  /** Newest first, one row per item, at most `limit` rows (the report says when there are more). */
  async skippedWithoutKey(q: Queryable, limit: number): Promise<{ rows: SensitiveSkip[]; total: number }> {
    const r = await q.query<SensitiveSkip & { total: number }>(
      `SELECT b.id, b.host, b.kind, b.key, b.status, b.created_at AS created, s.item->>'path' AS path,
              (count(*) OVER ())::int AS total
       FROM backups b CROSS JOIN LATERAL jsonb_array_elements(b.skipped) AS s(item)
       WHERE ${SQL_KEPT} AND starts_with(s.item->>'reason', $1)
       ORDER BY b.created_at DESC, b.host, path LIMIT $2`,
      [SENSITIVE_SKIPPED, limit],
    );
    return { rows: r.rows.map(({ total: _, ...row }) => row), total: r.rows[0]?.total ?? 0 };
  },
};
