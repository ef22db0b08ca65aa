import { randomUUID } from 'node:crypto';
import { type Clock, NotFoundFailure } from '@fleet-backup/core';
import type { BackupStore } from './backup-store.ts';
import type { Queryable } from './pool.ts';
import type { BackupRow } from './rows.ts';

export interface ChangeEvent {
  id: string;
  backupId: string;
  ticket: string;
  event: 'verified' | 'failed';
  actor: string;
  reason: string | null;
  /** How it was reported: the API token's name, or `cli`. */
  via: string;
  at: Date;
}

export interface ChangeReport {
  ticket: string;
  /** Every pre-change backup of the ticket, oldest first, as it stands after the report. */
  backups: BackupRow[];
  /** Ids of those whose state this report changed (a repeated report changes nothing). */
  changed: string[];
}

export interface ChangeReportInput {
  ticket: string;
  actor: string;
  via: string;
  reason?: string;
  /** Called for every backup of the ticket before anything is written; throwing aborts the whole report. */
  check?: (backup: BackupRow) => void;
}

/**
 * The change a pre-change backup protects, as its caller reports it. The backup row holds the
 * current state (`lifecycle`, `change_verified_by`, `change_verified_at`, mirrored into the seed
 * entry in the same transaction); `change_events` holds every report.
 */
export class ChangeStore {
  private readonly backups: BackupStore;
  private readonly clock: Clock;

  constructor(backups: BackupStore, clock: Clock) {
    this.backups = backups;
    this.clock = clock;
  }

  /** The change is verified: pending backups of the ticket become `verified`; others stay as they are. */
  verify(input: ChangeReportInput): Promise<ChangeReport> {
    return this.report(input, 'verified', async (tx, b, now) => {
      if (b.lifecycle !== null) return false;
      await tx.query(
        `UPDATE backups SET lifecycle = 'verified', change_verified_by = $2, change_verified_at = $3 WHERE id = $1`,
        [b.id, input.actor, now],
      );
      return true;
    });
  }

  /**
   * The change failed or was rolled back: the backups stay (or, if an earlier report verified the
   * change, go back to) `pending_verification`, so nothing retires the copy a rollback may need.
   */
  fail(input: ChangeReportInput): Promise<ChangeReport> {
    return this.report(input, 'failed', async (tx, b) => {
      if (b.lifecycle !== 'verified') return false;
      await tx.query(
        'UPDATE backups SET lifecycle = NULL, change_verified_by = NULL, change_verified_at = NULL WHERE id = $1',
        [b.id],
      );
      return true;
    });
  }

  /** Every report about the ticket's backups, oldest first. */
  async events(ticket: string): Promise<ChangeEvent[]> {
    const r = await this.backups.pool.query('SELECT * FROM change_events WHERE ticket = $1 ORDER BY at, id', [
      ticket,
    ]);
    return r.rows.map((row: Record<string, unknown>) => ({
      id: row.id as string,
      backupId: row.backup_id as string,
      ticket: row.ticket as string,
      event: row.event as ChangeEvent['event'],
      actor: row.actor as string,
      reason: (row.reason as string | null) ?? null,
      via: row.via as string,
      at: row.at as Date,
    }));
  }

  private report(
    input: ChangeReportInput,
    event: ChangeEvent['event'],
    apply: (tx: Queryable, backup: BackupRow, now: Date) => Promise<boolean>,
  ): Promise<ChangeReport> {
    return this.backups.transaction(async (tx) => {
      const found = await tx.query(
        "SELECT id FROM backups WHERE kind = 'pre_change' AND request->>'ticket' = $1 ORDER BY id",
        [input.ticket],
      );
      if (!found.rowCount) {
        throw new NotFoundFailure(`no pre-change backup has change ticket ${input.ticket}`, {
          ticket: input.ticket,
        });
      }
      // Locked in id order, so two reports about one ticket cannot deadlock.
      const rows: BackupRow[] = [];
      for (const { id } of found.rows as { id: string }[]) rows.push(await this.backups.lock(id, tx));
      for (const b of rows) input.check?.(b);
      const now = this.clock.now();
      const changed: string[] = [];
      // Locked, so a row this report did not change reads now as it did when locked.
      const after: BackupRow[] = [];
      for (const b of rows) {
        if (await apply(tx, b, now)) {
          changed.push(b.id);
          after.push(await this.backups.refresh(b.id, tx));
        } else {
          after.push(b);
        }
        await tx.query(
          `INSERT INTO change_events (id, backup_id, ticket, event, actor, reason, via, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [randomUUID(), b.id, input.ticket, event, input.actor, input.reason ?? null, input.via, now],
        );
      }
      after.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.key.localeCompare(b.key));
      return { ticket: input.ticket, backups: after, changed };
    });
  }
}
