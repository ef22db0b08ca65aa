import { type Clock, endingFor, isEnded, isKept, LOCAL_COPY } from '@fleet-backup/core';
import type { BackupStore } from './backup-store.ts';
import type { Queryable } from './pool.ts';
import type { BackupDetail, BackupRow } from './rows.ts';

/** The audit of one forget (table backup_forgets): it outlives the backup's own rows. */
export interface ForgetRecord {
  backupId: string;
  host: string;
  kind: string;
  key: string;
  /** The backup's status when the forget was asked for. */
  status: string;
  forced: boolean;
  by: string;
  reason: string;
  requestedAt: Date;
  /** When the catalog rows were deleted; null while a copy is still being removed. */
  forgottenAt: Date | null;
}

export interface ForgetRequest {
  id: string;
  by: string;
  reason: string;
  force: boolean;
  /** Why the backup may not be forgotten, judged on its locked rows; null: go ahead. */
  check: (detail: BackupDetail) => string | null;
}

export type BeginResult =
  | { begun: true; backup: BackupRow; record: ForgetRecord }
  | { begun: false; backup: BackupRow; refusal: string };

/**
 * Forgetting a backup, in two crash-safe steps like expiry: begin (one transaction under the row
 * lock: the audit row, the backup marked expiring or retiring, and one removal per copy), then,
 * once every copy's removal is recorded, finish (one transaction: the catalog rows deleted, the
 * audit row stamped). Between the two the backup is out of the metadata file, not safe, and no
 * stage runs for it, exactly as for a backup being expired.
 */
export class ForgetStore {
  private readonly backups: BackupStore;
  private readonly clock: Clock;

  constructor(backups: BackupStore, clock: Clock) {
    this.backups = backups;
    this.clock = clock;
  }

  /**
   * Starts forgetting a backup. Asking again for one already being forgotten carries it on (the
   * first request's audit stands); `check` is not asked then.
   */
  async begin(req: ForgetRequest): Promise<BeginResult> {
    return this.backups.transaction(async (tx) => {
      await this.backups.lock(req.id, tx);
      const earlier = await this.record(req.id, tx);
      const detail = await this.backups.detail(req.id, tx);
      if (earlier) return { begun: true, backup: detail.backup, record: earlier };
      const refusal = req.check(detail);
      if (refusal) return { begun: false, backup: detail.backup, refusal };
      const { backup } = detail;
      const now = this.clock.now();
      if (isKept(backup.lifecycle)) {
        await tx.query(
          `UPDATE backups SET lifecycle = $2, lifecycle_reason = $3, lifecycle_changed_at = $4, retired_by = $5
           WHERE id = $1`,
          [req.id, endingFor(backup.kind), `forgotten by ${req.by}: ${req.reason}`, now, req.by],
        );
      }
      // Already expiring or retiring: its removals are there; these add nothing then.
      await tx.query(
        `INSERT INTO backup_removals (backup_id, copy)
         SELECT $1::uuid, $2::text UNION SELECT $1::uuid, target FROM backup_copies WHERE backup_id = $1
         ON CONFLICT DO NOTHING`,
        [req.id, LOCAL_COPY],
      );
      await tx.query(
        `INSERT INTO backup_forgets (backup_id, host, kind, key, status, forced, forgotten_by, reason, requested_at, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          req.id,
          backup.host,
          backup.kind,
          backup.key,
          backup.status,
          req.force,
          req.by,
          req.reason,
          now,
          JSON.stringify(auditDetail(detail)),
        ],
      );
      const record = (await this.record(req.id, tx)) as ForgetRecord;
      return { begun: true, backup: await this.backups.refresh(req.id, tx), record };
    });
  }

  /**
   * Deletes a forgotten backup's catalog rows (stages, files, copies, removals go with them) once
   * every copy's removal is recorded, and stamps the audit row. Returns the audit row when the
   * forget is complete (`now`: by this call), null while a copy remains.
   */
  async finish(id: string): Promise<{ record: ForgetRecord; now: boolean } | null> {
    return this.backups.transaction(async (tx) => {
      const record = await this.record(id, tx, true);
      if (!record) return null;
      if (record.forgottenAt) return { record, now: false };
      const row = await tx.query('SELECT lifecycle FROM backups WHERE id = $1 FOR UPDATE', [id]);
      if (row.rowCount) {
        if (!isEnded(row.rows[0].lifecycle as string | null)) return null;
        const pending = await tx.query(
          'SELECT 1 FROM backup_removals WHERE backup_id = $1 AND removed_at IS NULL LIMIT 1',
          [id],
        );
        if (pending.rowCount) return null;
        await tx.query('DELETE FROM backups WHERE id = $1', [id]);
      }
      await tx.query('UPDATE backup_forgets SET forgotten_at = $2 WHERE backup_id = $1', [
        id,
        this.clock.now(),
      ]);
      return { record: (await this.record(id, tx)) as ForgetRecord, now: true };
    });
  }

  /** The audit row of a backup's forget, if it was ever asked for; `lock` takes it FOR UPDATE. */
  async record(id: string, q: Queryable = this.backups.pool, lock = false): Promise<ForgetRecord | null> {
    const r = await q.query(`SELECT * FROM backup_forgets WHERE backup_id = $1${lock ? ' FOR UPDATE' : ''}`, [
      id,
    ]);
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  /** The newest completed forget of a backup with this key (on this host, when given). */
  async forgottenByKey(key: string, host: string | null): Promise<ForgetRecord | null> {
    const r = await this.backups.pool.query(
      `SELECT * FROM backup_forgets WHERE key = $1 AND ($2::text IS NULL OR host = $2) AND forgotten_at IS NOT NULL
       ORDER BY forgotten_at DESC LIMIT 1`,
      [key, host],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  /** Forgets begun but not finished (a copy still to remove, or a crash before the rows went), oldest first. */
  async unfinished(): Promise<ForgetRecord[]> {
    const r = await this.backups.pool.query(
      'SELECT * FROM backup_forgets WHERE forgotten_at IS NULL ORDER BY requested_at LIMIT 1000',
    );
    return r.rows.map(toRecord);
  }

  /** Every forget, newest first. */
  async list(limit = 100): Promise<ForgetRecord[]> {
    const r = await this.backups.pool.query(
      'SELECT * FROM backup_forgets ORDER BY requested_at DESC, backup_id LIMIT $1',
      [limit],
    );
    return r.rows.map(toRecord);
  }
}

/** What the audit keeps of the backup: enough to say later what was forgotten and why it had failed. */
function auditDetail(d: BackupDetail): Record<string, unknown> {
  return {
    created: d.backup.createdAt.toISOString(),
    lifecycle: d.backup.lifecycle,
    request: d.backup.request,
    stages: d.stages.map((s) => ({
      stage: s.stage,
      target: s.target || null,
      status: s.status,
      attempts: s.attempts,
      error: s.error,
    })),
    copies: d.copies.map((c) => ({ target: c.target, status: c.status })),
    files: d.files.length,
    bytes: d.files.reduce((n, f) => n + f.size, 0),
  };
}

function toRecord(r: Record<string, unknown>): ForgetRecord {
  return {
    backupId: r.backup_id as string,
    host: r.host as string,
    kind: r.kind as string,
    key: r.key as string,
    status: r.status as string,
    forced: r.forced as boolean,
    by: r.forgotten_by as string,
    reason: r.reason as string,
    requestedAt: r.requested_at as Date,
    forgottenAt: (r.forgotten_at as Date | null) ?? null,
  };
}
