import type { Clock } from '@fleet-backup/core';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Pool, Queryable } from './pool.ts';

const DAY_MS = 86_400_000;

/** A blob on a target, by the sha256 of its stored bytes. */
export interface StoredBlob {
  sha256: string;
  size: number;
}

/** A blob the last read found corrupt or missing. */
export interface BadBlob extends StoredBlob {
  problem: string;
  badAt: Date;
}

/** A kept backup's copy on one target, with the files of it that a given blob holds. */
export interface CopyHolding {
  backupId: string;
  host: string;
  key: string;
  status: string;
  /** Metadata paths of the backup's files stored in that blob. */
  paths: string[];
}

/** A target copy's manifest due for a re-read. */
export interface ManifestDue {
  backupId: string;
  host: string;
  key: string;
}

/**
 * The slice of a rolling re-read: oldest-read first until `budget` (bytes or items) is reached,
 * stretched to twice the budget while what follows is already overdue (last read a whole window
 * ago), so a backlog (an upgrade, a burst of new data) is caught up without a burst of reads.
 */
export interface SliceBounds {
  budget: number;
  overdueBefore: Date;
}

/** Budget and overdue date for one day's slice of `total` over a window of `windowDays`. */
export function sliceBounds(total: number, windowDays: number, now: Date): SliceBounds {
  const days = Math.max(1, windowDays);
  return {
    budget: Math.ceil(total / days),
    overdueBefore: new Date(now.getTime() - (days - 1) * DAY_MS),
  };
}

/**
 * What each target copy was last read back as: the manifest bytes written (their sha256), when
 * each blob was last read and whether it read bad, and the rolling re-read's daily slices. Blobs
 * are checked per target, not per backup: one blob serves every backup holding those bytes.
 */
export class CopyChecks {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** Records the sha256 of the manifest bytes a target copy holds (replicate, or verify backfilling). */
  async recordManifest(backupId: string, target: string, sha256: string, q: Queryable = this.pool) {
    await q.query('UPDATE backup_copies SET manifest_sha256 = $3 WHERE backup_id = $1 AND target = $2', [
      backupId,
      target,
      sha256,
    ]);
  }

  /** The sha256 recorded for a target copy's manifest; null when none was (written before it was kept). */
  async manifestSha(backupId: string, target: string, q: Queryable = this.pool): Promise<string | null> {
    const r = await q.query<{ manifest_sha256: string | null }>(
      'SELECT manifest_sha256 FROM backup_copies WHERE backup_id = $1 AND target = $2',
      [backupId, target],
    );
    return r.rows[0]?.manifest_sha256 ?? null;
  }

  /** Notes that a copy (its manifest, or the whole local copy) was read back just now. */
  async copyChecked(backupId: string, target: string, q: Queryable = this.pool): Promise<void> {
    await q.query('UPDATE backup_copies SET checked_at = $3 WHERE backup_id = $1 AND target = $2', [
      backupId,
      target,
      this.clock.now(),
    ]);
  }

  /**
   * Blobs that read good just now: read time set, any bad mark cleared. `unlessReadSince`: a good
   * blob already recorded as read good since then keeps that time. A daily verify re-reads nearly
   * every blob of a host's copy: stamping each row every day rewrote (and, through the re-check
   * index, bloated) the whole table daily, about 135 bytes per blob per day; a read that recent
   * changes nothing the re-check or its coverage metric needs.
   */
  async blobsGood(
    target: string,
    sha256s: string[],
    q: Queryable = this.pool,
    unlessReadSince?: Date,
  ): Promise<void> {
    if (!sha256s.length) return;
    await q.query(
      `UPDATE target_blobs SET checked_at = $3, bad_at = NULL, problem = NULL
       WHERE target = $1 AND sha256 = ANY($2::text[])
         AND ($4::timestamptz IS NULL OR bad_at IS NOT NULL OR checked_at IS NULL OR checked_at < $4)`,
      [target, sha256s, this.clock.now(), unlessReadSince ?? null],
    );
  }

  /**
   * Marks a blob bad (corrupt or missing), recording it even when Postgres did not know the target
   * held it. True when it was not already marked: the caller then asks for a repair.
   */
  async blobBad(target: string, blob: StoredBlob, problem: string): Promise<boolean> {
    const now = this.clock.now();
    const r = await this.pool.query<{ newly: boolean }>(
      `WITH old AS (SELECT bad_at FROM target_blobs WHERE target = $1 AND sha256 = $2)
       INSERT INTO target_blobs (target, sha256, size, stored_at, checked_at, bad_at, problem)
       VALUES ($1, $2, $3, $4, $4, $4, $5)
       ON CONFLICT (target, sha256) DO UPDATE
         SET checked_at = $4, bad_at = COALESCE(target_blobs.bad_at, $4), problem = $5
       RETURNING (SELECT bad_at FROM old) IS NULL AS newly`,
      [target, blob.sha256, blob.size, now, problem.slice(0, 1000)],
    );
    return r.rows[0]?.newly ?? true;
  }

  /** Of these blobs, the ones marked bad on the target. */
  async badAmong(target: string, sha256s: string[]): Promise<Set<string>> {
    if (!sha256s.length) return new Set();
    const r = await this.pool.query<{ sha256: string }>(
      'SELECT sha256 FROM target_blobs WHERE target = $1 AND sha256 = ANY($2::text[]) AND bad_at IS NOT NULL',
      [target, sha256s],
    );
    return new Set(r.rows.map((row) => row.sha256));
  }

  /** Adds bytes read back from a target to today's egress (UTC day). */
  async noteReadBack(target: string, bytes: number): Promise<void> {
    if (bytes <= 0) return;
    await this.pool.query(
      `INSERT INTO target_reads (target, day, bytes) VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $3)
       ON CONFLICT (target, day) DO UPDATE SET bytes = target_reads.bytes + EXCLUDED.bytes`,
      [target, this.clock.now(), bytes],
    );
  }

  /** Of these blobs, those the target holds that last read good at or after `since`. */
  async readGoodSince(target: string, sha256s: string[], since: Date): Promise<Set<string>> {
    if (!sha256s.length) return new Set();
    const r = await this.pool.query<{ sha256: string }>(
      `SELECT sha256 FROM target_blobs WHERE target = $1 AND sha256 = ANY($2::text[])
         AND bad_at IS NULL AND checked_at >= $3`,
      [target, sha256s, since],
    );
    return new Set(r.rows.map((row) => row.sha256));
  }

  /** Every blob marked bad on the target. */
  async badBlobs(target: string): Promise<BadBlob[]> {
    const r = await this.pool.query<BadBlob>(
      `SELECT sha256, size, problem, bad_at AS "badAt" FROM target_blobs
       WHERE target = $1 AND bad_at IS NOT NULL ORDER BY bad_at, sha256`,
      [target],
    );
    return r.rows;
  }

  /** Other targets Postgres knows hold the blob and whose last read of it was good. */
  async goodElsewhere(sha256: string, except: string): Promise<string[]> {
    const r = await this.pool.query<{ target: string }>(
      `SELECT target FROM target_blobs WHERE sha256 = $1 AND target <> $2 AND bad_at IS NULL
       ORDER BY checked_at DESC NULLS LAST, target`,
      [sha256, except],
    );
    return r.rows.map((row) => row.target);
  }

  /** Today's slice of a target's blobs for the rolling re-read (see SliceBounds). */
  async blobSlice(target: string, windowDays: number): Promise<StoredBlob[]> {
    const total = await this.pool.query<{ bytes: number | null }>(
      'SELECT sum(size)::bigint AS bytes FROM target_blobs WHERE target = $1 AND bad_at IS NULL',
      [target],
    );
    const bounds = sliceBounds(Number(total.rows[0]?.bytes ?? 0), windowDays, this.clock.now());
    const r = await this.pool.query<StoredBlob>(
      `WITH ordered AS (
         SELECT sha256, size, COALESCE(checked_at, stored_at) AS last,
                sum(size) OVER (ORDER BY COALESCE(checked_at, stored_at), sha256 ROWS UNBOUNDED PRECEDING) - size AS before
         FROM target_blobs WHERE target = $1 AND bad_at IS NULL)
       SELECT sha256, size FROM ordered
       WHERE before < $2 OR (last <= $3 AND before < 2 * $2::bigint)
       ORDER BY last, sha256`,
      [target, bounds.budget, bounds.overdueBefore],
    );
    return r.rows;
  }

  /** Today's slice of a target's verified copies whose manifest to read again (by count). */
  async manifestSlice(target: string, windowDays: number): Promise<ManifestDue[]> {
    const due = `FROM backup_copies c JOIN backups b ON b.id = c.backup_id
                 WHERE c.target = $1 AND c.status = 'verified' AND ${SQL_KEPT}`;
    const total = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n ${due}`, [target]);
    const bounds = sliceBounds(total.rows[0]?.n ?? 0, windowDays, this.clock.now());
    const r = await this.pool.query<ManifestDue>(
      `WITH ordered AS (
         SELECT c.backup_id AS "backupId", b.host, b.key, COALESCE(c.checked_at, c.verified_at, b.created_at) AS last,
                row_number() OVER (ORDER BY COALESCE(c.checked_at, c.verified_at, b.created_at), c.backup_id) - 1 AS before
         ${due})
       SELECT "backupId", host, key FROM ordered
       WHERE before < $2 OR (last <= $3 AND before < 2 * $2::bigint)
       ORDER BY last, "backupId"`,
      [target, bounds.budget, bounds.overdueBefore],
    );
    return r.rows;
  }

  /** The kept backups with a copy on the target that store a file in this blob (or in a file it is a chunk of), and which files. */
  async holding(target: string, sha256: string): Promise<CopyHolding[]> {
    const r = await this.pool.query<CopyHolding>(
      `SELECT b.id AS "backupId", b.host, b.key, c.status, array_agg(f.path ORDER BY f.path) AS paths
       FROM backup_files f JOIN backups b ON b.id = f.backup_id
       JOIN backup_copies c ON c.backup_id = b.id AND c.target = $1
       WHERE (f.blob_sha256 = $2 OR f.blob_sha256 IN (SELECT blob_sha256 FROM blob_chunks WHERE chunk_sha256 = $2))
         AND ${SQL_KEPT}
       GROUP BY b.id, b.host, b.key, c.status ORDER BY b.created_at, b.id`,
      [target, sha256],
    );
    return r.rows;
  }

  /** Kept backups whose pipeline has ended, of one host or all, newest first: what `verify` reads. */
  async keptBackups(host: string | null): Promise<{ id: string; host: string; key: string }[]> {
    const r = await this.pool.query<{ id: string; host: string; key: string }>(
      `SELECT b.id, b.host, b.key FROM backups b
       WHERE ($1::text IS NULL OR b.host = $1) AND b.status <> 'running' AND ${SQL_KEPT}
       ORDER BY b.host, b.created_at DESC, b.key DESC`,
      [host],
    );
    return r.rows;
  }

  /** Kept backups whose copy on the target is corrupt: what a repair verifies again once healed. */
  async corruptCopies(target: string): Promise<{ backupId: string; host: string }[]> {
    const r = await this.pool.query<{ backupId: string; host: string }>(
      `SELECT b.id AS "backupId", b.host FROM backup_copies c JOIN backups b ON b.id = c.backup_id
       WHERE c.target = $1 AND c.status = 'corrupt' AND ${SQL_KEPT} ORDER BY b.created_at, b.id`,
      [target],
    );
    return r.rows;
  }
}
