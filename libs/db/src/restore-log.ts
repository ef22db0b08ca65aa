import { randomUUID } from 'node:crypto';
import type { Pool } from './pool.ts';

export interface RestoreRecord {
  id: string;
  backupId: string | null;
  host: string;
  backupKey: string;
  requestedBy: string;
  requestedCopy: string;
  startedAt: Date;
  finishedAt: Date;
  outcome: 'ok' | 'failed';
  files: number;
  bytes: number;
  detail: Record<string, unknown>;
}

/** Every restore, as the seed asks ("track recovery steps, document verification"). */
export class RestoreLog {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  async record(r: Omit<RestoreRecord, 'id'>): Promise<string> {
    const id = randomUUID();
    await this.pool.query(
      `INSERT INTO restores (id, backup_id, host, backup_key, requested_by, requested_copy, started_at, finished_at,
         outcome, files, bytes, detail)
       VALUES ($1, (SELECT id FROM backups WHERE id = $2::uuid), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        id,
        r.backupId,
        r.host,
        r.backupKey,
        r.requestedBy,
        r.requestedCopy,
        r.startedAt,
        r.finishedAt,
        r.outcome,
        r.files,
        r.bytes,
        JSON.stringify(r.detail),
      ],
    );
    return id;
  }

  async list(limit = 100): Promise<RestoreRecord[]> {
    const r = await this.pool.query('SELECT * FROM restores ORDER BY started_at DESC LIMIT $1', [limit]);
    return r.rows.map((row: Record<string, unknown>) => ({
      id: row.id as string,
      backupId: (row.backup_id as string | null) ?? null,
      host: row.host as string,
      backupKey: row.backup_key as string,
      requestedBy: row.requested_by as string,
      requestedCopy: row.requested_copy as string,
      startedAt: row.started_at as Date,
      finishedAt: row.finished_at as Date,
      outcome: row.outcome as 'ok' | 'failed',
      files: row.files as number,
      bytes: row.bytes as number,
      detail: row.detail as Record<string, unknown>,
    }));
  }
}
