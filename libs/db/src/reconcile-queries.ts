import { keptSql } from './lifecycle-sql.ts';
import type { Queryable } from './pool.ts';

/**
 * A stage of backup `b` that the pipeline would run next: running, or pending right after a stage
 * that is done (hash after snapshot, replicate after hash, verify after its target's replicate).
 * A pending stage behind a failed one is not "next": it waits for an operator's retry.
 */
const NEXT_STAGE = `SELECT 1 FROM backup_stages s WHERE s.backup_id = b.id AND (s.status = 'running' OR (
  s.status = 'pending' AND EXISTS (SELECT 1 FROM backup_stages p WHERE p.backup_id = b.id AND p.status = 'done' AND (
    (s.stage = 'hash' AND p.stage = 'snapshot') OR (s.stage = 'replicate' AND p.stage = 'hash')
    OR (s.stage = 'verify' AND p.stage = 'replicate' AND p.target = s.target)))))`;

/**
 * Kept backups with work still open in Postgres, oldest first: every `running` one, and a `failed`
 * one with a stage still on its way (one target's replicate failed while another target's is
 * pending or running), so the reconciler carries those stages on, or ends them, too.
 */
export async function backupsWithOpenStages(q: Queryable, limit = 1000): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `SELECT b.id FROM backups b
     WHERE ${keptSql('b')} AND (b.status = 'running' OR (b.status = 'failed' AND EXISTS (${NEXT_STAGE})))
     ORDER BY b.created_at LIMIT $1`,
    [limit],
  );
  return r.rows.map((row) => row.id);
}
