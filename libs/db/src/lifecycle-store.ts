import {
  BadInputError,
  type Clock,
  type EndingLifecycle,
  endedFor,
  isKept,
  LOCAL_COPY,
  NotFoundFailure,
  type RetentionFacts,
} from '@fleet-backup/core';
import type { BackupStore } from './backup-store.ts';
import { SQL_ENDING, SQL_KEPT } from './lifecycle-sql.ts';
import { dropChain } from './listing-store.ts';
import type { Queryable } from './pool.ts';
import { type BackupRow, toBackup, toBackupHead } from './rows.ts';

const FACTS = `
  SELECT b.id, b.host, b.kind, b.key, b.status, b.created_at, b.expires_at, b.lifecycle,
         b.request->>'retention' AS retention, b.request->>'ticket' AS ticket, b.change_verified_at,
         (b.status = 'running' OR EXISTS (
            SELECT 1 FROM backup_stages s WHERE s.backup_id = b.id AND s.status = 'running')) AS in_flight
  FROM backups b`;

/** One copy of an ending backup to remove: `local` or a target name. */
export interface RemovalRow {
  copy: string;
  removedAt: Date | null;
  /** What held the last attempt up (a target down, an agent error). */
  error: string | null;
}

export interface EndingBackup {
  backup: BackupRow;
  removals: RemovalRow[];
}

export type MarkResult =
  | { marked: true; backup: BackupRow }
  | { marked: false; backup: BackupRow; refusal: string | null };

/**
 * The lifecycle of backups that leave: kept → expiring/retiring (marked, before any copy is
 * touched) → expired/retired (once every copy's removal is recorded). Each step is one
 * transaction under the backup's row lock, so crashes leave a backup kept or marked, never between.
 */
export class LifecycleStore {
  private readonly backups: BackupStore;
  private readonly clock: Clock;

  constructor(backups: BackupStore, clock: Clock) {
    this.backups = backups;
    this.clock = clock;
  }

  /** What retention needs about every kept backup. */
  async retentionFacts(q: Queryable = this.backups.pool): Promise<RetentionFacts[]> {
    const r = await q.query(`${FACTS} WHERE ${SQL_KEPT} ORDER BY b.host, b.created_at, b.key`);
    return r.rows.map(toFacts);
  }

  /**
   * Marks a kept backup `ending` when `check` (run on the locked row) finds no reason to refuse,
   * and records the copies to remove: `local` and one per target copy. A backup already going or
   * gone is returned unmarked with no refusal, so marking twice is harmless.
   */
  async mark(
    id: string,
    ending: EndingLifecycle,
    reason: string,
    opts: { by?: string | null; check?: (facts: RetentionFacts) => string | null } = {},
  ): Promise<MarkResult> {
    return this.backups.transaction(async (tx) => {
      const locked = await this.backups.lock(id, tx);
      if (!isKept(locked.lifecycle)) return { marked: false, backup: locked, refusal: null };
      const facts = toFacts((await tx.query(`${FACTS} WHERE b.id = $1`, [id])).rows[0]);
      const refusal = opts.check?.(facts) ?? null;
      if (refusal) return { marked: false, backup: locked, refusal };
      await tx.query(
        `UPDATE backups SET lifecycle = $2, lifecycle_reason = $3, lifecycle_changed_at = $4, retired_by = $5
         WHERE id = $1`,
        [id, ending, reason, this.clock.now(), opts.by ?? null],
      );
      await tx.query(
        `INSERT INTO backup_removals (backup_id, copy)
         SELECT $1::uuid, $2::text UNION SELECT $1::uuid, target FROM backup_copies WHERE backup_id = $1
         ON CONFLICT DO NOTHING`,
        [id, LOCAL_COPY],
      );
      return { marked: true, backup: await this.backups.refresh(id, tx) };
    });
  }

  /** Backups marked to go whose copies are not all removed yet, oldest mark first. */
  async ending(): Promise<EndingBackup[]> {
    const r = await this.backups.pool.query(
      `SELECT * FROM backups b WHERE b.lifecycle IN ${SQL_ENDING} ORDER BY b.lifecycle_changed_at, b.id`,
    );
    const out: EndingBackup[] = [];
    for (const row of r.rows) {
      const backup = toBackup(row);
      out.push({ backup, removals: await this.removals(backup.id) });
    }
    return out;
  }

  /** The copies a marked backup has to lose, `local` first, with what is done and what held it up. */
  async removals(id: string, q: Queryable = this.backups.pool): Promise<RemovalRow[]> {
    const r = await q.query(
      `SELECT copy, removed_at, error FROM backup_removals WHERE backup_id = $1 ORDER BY copy <> $2, copy`,
      [id, LOCAL_COPY],
    );
    return r.rows.map((row: { copy: string; removed_at: Date | null; error: string | null }) => ({
      copy: row.copy,
      removedAt: row.removed_at,
      error: row.error,
    }));
  }

  /** Records that a copy is gone (idempotent: the first time stands). */
  async recordRemoved(id: string, copy: string): Promise<void> {
    await this.backups.pool.query(
      `UPDATE backup_removals SET removed_at = $3, error = NULL
       WHERE backup_id = $1 AND copy = $2 AND removed_at IS NULL`,
      [id, copy, this.clock.now()],
    );
  }

  /** Records why a copy could not be removed this time; it is tried again on the next run. */
  async recordRemovalError(id: string, copy: string, error: string): Promise<void> {
    await this.backups.pool.query(
      'UPDATE backup_removals SET error = $3 WHERE backup_id = $1 AND copy = $2 AND removed_at IS NULL',
      [id, copy, error.slice(0, 2000)],
    );
  }

  /**
   * Ends a marked backup once every copy is removed: `expired` or `retired`, with its seed entry
   * rewritten in the same transaction. Returns the row when it is ended (now or before), else null.
   */
  async finishIfRemoved(id: string): Promise<BackupRow | null> {
    return this.backups.transaction(async (tx) => {
      const locked = await this.backups.lock(id, tx);
      if (locked.lifecycle === 'expired' || locked.lifecycle === 'retired') return locked;
      if (locked.lifecycle !== 'expiring' && locked.lifecycle !== 'retiring') return null;
      const pending = await tx.query(
        'SELECT 1 FROM backup_removals WHERE backup_id = $1 AND removed_at IS NULL LIMIT 1',
        [id],
      );
      if (pending.rowCount) return null;
      await dropChain(tx, id);
      await tx.query('UPDATE backups SET lifecycle = $2, lifecycle_changed_at = $3 WHERE id = $1', [
        id,
        endedFor(locked.lifecycle),
        this.clock.now(),
      ]);
      return this.backups.refresh(id, tx);
    });
  }

  /** The backup a person names by key (and host when the key exists on several). */
  async findByKey(key: string, host: string | null): Promise<BackupRow> {
    const r = await this.backups.pool.query(
      'SELECT * FROM backups WHERE key = $1 AND ($2::text IS NULL OR host = $2) ORDER BY host',
      [key, host],
    );
    const rows = r.rows.map(toBackup);
    if (rows.length === 1 && rows[0]) return rows[0];
    if (rows.length === 0) {
      throw new NotFoundFailure(`no backup has key ${key}${host ? ` on host ${host}` : ''}`, { key, host });
    }
    throw new BadInputError(
      `key ${key} exists on hosts ${rows.map((b) => b.host).join(', ')}: name one with --host`,
      { key },
    );
  }
}

function toFacts(r: Record<string, unknown>): RetentionFacts {
  return {
    ...toBackupHead(r),
    created: r.created_at as Date,
    expires: (r.expires_at as Date | null) ?? null,
    retention: (r.retention as string | null) ?? null,
    lifecycle: (r.lifecycle as string | null) ?? null,
    ticket: (r.ticket as string | null) ?? null,
    changeVerifiedAt: (r.change_verified_at as Date | null) ?? null,
    inFlight: r.in_flight as boolean,
  };
}
