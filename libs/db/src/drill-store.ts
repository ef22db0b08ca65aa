import { keptSql } from './lifecycle-sql.ts';
import type { Pool } from './pool.ts';

export type DrillTrigger = 'scheduled' | 'manual';

/** One restore drill, as `drill_runs` holds it. `ok` is null while the drill runs. */
export interface DrillRun {
  id: string;
  host: string;
  backupId: string | null;
  backupKey: string | null;
  /** The copy restored from. */
  target: string | null;
  trigger: DrillTrigger;
  startedAt: Date;
  finishedAt: Date | null;
  ok: boolean | null;
  reason: string | null;
  durationMs: number | null;
  files: number | null;
  bytes: number | null;
}

export interface DrillOutcome {
  ok: boolean;
  reason: string | null;
  finishedAt: Date;
  durationMs: number;
  files: number;
  bytes: number;
}

/** Per host: its newest drill, and when its newest passing drill started. */
export interface HostDrillSummary {
  host: string;
  last: DrillRun | null;
  lastOkAt: Date | null;
}

const INTERRUPTED = 'interrupted: the process running the drill stopped before it finished';

/** The record of restore drills: written when a drill starts, completed when it ends. */
export class DrillStore {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  /**
   * Records a drill as running. A drill of the same host still running since before
   * `staleBefore` can no longer be (its job timed out), so it is closed as interrupted.
   */
  async start(
    run: { id: string; host: string; trigger: DrillTrigger; startedAt: Date },
    staleBefore: Date,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE drill_runs SET ok = false, reason = $3, finished_at = $4
       WHERE host = $1 AND ok IS NULL AND started_at < $2`,
      [run.host, staleBefore, INTERRUPTED, run.startedAt],
    );
    await this.pool.query('INSERT INTO drill_runs (id, host, trigger, started_at) VALUES ($1, $2, $3, $4)', [
      run.id,
      run.host,
      run.trigger,
      run.startedAt,
    ]);
  }

  /** Records which backup and which copy the drill restores. */
  async chose(id: string, choice: { backupId: string; backupKey: string; target: string }): Promise<void> {
    await this.pool.query(
      'UPDATE drill_runs SET backup_id = $2, backup_key = $3, target = $4 WHERE id = $1',
      [id, choice.backupId, choice.backupKey, choice.target],
    );
  }

  async finish(id: string, outcome: DrillOutcome): Promise<void> {
    await this.pool.query(
      `UPDATE drill_runs SET ok = $2, reason = $3, finished_at = $4, duration_ms = $5, files = $6, bytes = $7
       WHERE id = $1`,
      [
        id,
        outcome.ok,
        outcome.reason?.slice(0, 4000) ?? null,
        outcome.finishedAt,
        Math.round(outcome.durationMs),
        outcome.files,
        outcome.bytes,
      ],
    );
  }

  /**
   * The host's newest verified backup of a kind (null: any kind) that is not being removed: what
   * a drill restores unless told which (by default a daily, the backup the fleet relies on).
   */
  async newestVerifiedBackup(host: string, kind: string | null = null): Promise<string | null> {
    const r = await this.pool.query<{ id: string }>(
      `SELECT id FROM backups WHERE host = $1 AND status = 'verified'
         AND ($2::text IS NULL OR kind = $2) AND ${keptSql('backups')}
       ORDER BY created_at DESC, key DESC LIMIT 1`,
      [host, kind],
    );
    return r.rows[0]?.id ?? null;
  }

  async get(id: string): Promise<DrillRun | null> {
    const r = await this.pool.query('SELECT * FROM drill_runs WHERE id = $1', [id]);
    return r.rows[0] ? toDrillRun(r.rows[0]) : null;
  }

  /** Drills newest first, of one host or all. */
  async list(filter: { host?: string; limit?: number } = {}): Promise<DrillRun[]> {
    const r = await this.pool.query(
      `SELECT * FROM drill_runs WHERE ($1::text IS NULL OR host = $1)
       ORDER BY started_at DESC, id LIMIT $2`,
      [filter.host ?? null, filter.limit ?? 100],
    );
    return r.rows.map(toDrillRun);
  }

  /** The newest drill and the newest passing one of each host that has had a drill. */
  async summaries(): Promise<HostDrillSummary[]> {
    const r = await this.pool.query(
      `SELECT DISTINCT ON (d.host) d.*,
         (SELECT max(o.started_at) FROM drill_runs o WHERE o.host = d.host AND o.ok) AS last_ok_at
       FROM drill_runs d ORDER BY d.host, d.started_at DESC, d.id`,
    );
    return r.rows.map((row: Record<string, unknown>) => ({
      host: row.host as string,
      last: toDrillRun(row),
      lastOkAt: (row.last_ok_at as Date | null) ?? null,
    }));
  }
}

function toDrillRun(r: Record<string, unknown>): DrillRun {
  return {
    id: r.id as string,
    host: r.host as string,
    backupId: (r.backup_id as string | null) ?? null,
    backupKey: (r.backup_key as string | null) ?? null,
    target: (r.target as string | null) ?? null,
    trigger: r.trigger as DrillTrigger,
    startedAt: r.started_at as Date,
    finishedAt: (r.finished_at as Date | null) ?? null,
    ok: (r.ok as boolean | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    durationMs: (r.duration_ms as number | null) ?? null,
    files: (r.files as number | null) ?? null,
    bytes: (r.bytes as number | null) ?? null,
  };
}
