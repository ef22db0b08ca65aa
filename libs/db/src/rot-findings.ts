import { type Clock, LOCAL_COPY } from '@fleet-backup/core';
import type { Pool } from './pool.ts';

/**
 * Who found it: the pipeline's verify, the rolling re-read, a restore drill, `fleet-backup verify`,
 * or a repair whose source's bytes were bad too.
 */
export type RotFinder = 'verify' | 'recheck' | 'drill' | 'cli' | 'repair';

export interface NewRotFinding {
  /** 'local' or a target name. */
  copy: string;
  host: string;
  backupId: string | null;
  /** A blob or manifest key on a target; `<backup key>/<stored path>` for the local copy. */
  object: string;
  problem: string;
  foundBy: RotFinder;
}

export interface RotFinding extends NewRotFinding {
  id: number;
  foundAt: Date;
  healedAt: Date | null;
  healedFrom: string | null;
}

/** Rot found per copy since a date: how many objects, and how many of them are healed. */
export interface RotCount {
  copy: string;
  found: number;
  healed: number;
}

// One open finding per object: a blob shared by many backups, or read bad again before it was
// healed, is one piece of rot. Local objects are named within their host. The unique index
// rot_findings_one_open (migration 017) holds it.
const SAME_OBJECT = `copy = $1 AND object = $2 AND healed_at IS NULL AND (copy <> '${LOCAL_COPY}' OR host = $3)`;

/** The history of rot: what was found bad, where, by whom, and when and from where it was healed. */
export class RotFindings {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /**
   * Records a finding unless the same object already has one that is not healed (a unique index
   * holds that, so two readers finding it at once record it once).
   */
  async record(f: NewRotFinding): Promise<void> {
    await this.pool.query(
      `INSERT INTO rot_findings (found_at, copy, host, backup_id, object, problem, found_by)
       VALUES ($4, $1, $3, $5, $2, $6, $7) ON CONFLICT DO NOTHING`,
      [f.copy, f.object, f.host, this.clock.now(), f.backupId, f.problem.slice(0, 2000), f.foundBy],
    );
  }

  /** Marks an object's open finding healed, from the copy the good bytes came from. */
  async healed(copy: string, host: string, object: string, from: string): Promise<void> {
    await this.pool.query(`UPDATE rot_findings SET healed_at = $4, healed_from = $5 WHERE ${SAME_OBJECT}`, [
      copy,
      object,
      host,
      this.clock.now(),
      from,
    ]);
  }

  /** Findings since a date, newest first. */
  async since(at: Date, limit = 100): Promise<RotFinding[]> {
    const r = await this.pool.query<RotFinding>(
      `SELECT id::int, found_at AS "foundAt", copy, host, backup_id AS "backupId", object, problem,
              found_by AS "foundBy", healed_at AS "healedAt", healed_from AS "healedFrom"
       FROM rot_findings WHERE found_at >= $1 ORDER BY found_at DESC, id DESC LIMIT $2`,
      [at, limit],
    );
    return r.rows;
  }

  /** Per copy: objects found bad since a date, and how many of those are healed. */
  async countsSince(at: Date): Promise<RotCount[]> {
    const r = await this.pool.query<RotCount>(
      `SELECT copy, count(*)::int AS found, count(healed_at)::int AS healed
       FROM rot_findings WHERE found_at >= $1 GROUP BY copy ORDER BY copy`,
      [at],
    );
    return r.rows;
  }
}
