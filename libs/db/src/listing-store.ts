import { ADVISORY_LOCKS } from './advisory-locks.ts';
import type { CopyHolding } from './copy-checks.ts';
import { notEndedSql, SQL_KEPT } from './lifecycle-sql.ts';
import { type Pool, type Queryable, withTransaction } from './pool.ts';

/**
 * Advisory lock between the backups that take on listing segments and the removals that delete
 * them. Choosing a backup's chain holds it shared; deleting segments nobody needs holds it
 * exclusively, so a segment is either seen as needed or was deleted before the chain was chosen
 * (and the chain is then chosen without it).
 */
export const LISTING_REFS_LOCK = ADVISORY_LOCKS.listingRefs;

/** One listing segment of a chain: its stored bytes, and whether it is a full listing. */
export interface ChainSegment {
  sha256: string;
  bytes: Buffer;
  full: boolean;
}

/** A segment of a chain as a check needs it: its name and its size, not its bytes. */
export interface ChainLink {
  sha256: string;
  size: number;
}

/** The listing segments each backup's files and nodes are stored in offsite (migration 018). */
export class ListingStore {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** A backup's chain, in order; empty when it has none (not replicated yet, or older than chains). */
  async chain(backupId: string, q: Queryable = this.pool): Promise<ChainSegment[]> {
    const r = await q.query<{ sha256: string; bytes: Buffer; full: boolean }>(
      `SELECT l.sha256, s.bytes, s.full_listing AS full FROM backup_listings l
       JOIN listing_segments s ON s.sha256 = l.sha256 WHERE l.backup_id = $1 ORDER BY l.seq`,
      [backupId],
    );
    return r.rows;
  }

  /**
   * A backup's chain by name and size, in order: what a check of a copy or a manifest needs. The
   * bytes stay in Postgres (a full listing of 100,000 files is 1.5 MB, per copy checked).
   */
  async links(backupId: string): Promise<ChainLink[]> {
    const r = await this.pool.query<ChainLink>(
      `SELECT l.sha256, octet_length(s.bytes) AS size FROM backup_listings l
       JOIN listing_segments s ON s.sha256 = l.sha256 WHERE l.backup_id = $1 ORDER BY l.seq`,
      [backupId],
    );
    return r.rows;
  }

  /**
   * The backup's chain, chosen once: the one it has, or else `choose(previous)`, given the chain
   * of the host's latest earlier backup that has one and has not ended (empty when there is none).
   * Replicates to several targets may ask at once; all get the same chain.
   */
  async settle(
    backupId: string,
    choose: (previous: ChainSegment[]) => Promise<ChainSegment[]>,
  ): Promise<ChainSegment[]> {
    return withTransaction(this.pool, async (tx) => {
      // The row first, then the lock, as ending a backup takes them (drop): never a deadlock.
      const me = await tx.query<{ host: string; created_at: Date }>(
        'SELECT host, created_at FROM backups WHERE id = $1 FOR UPDATE',
        [backupId],
      );
      await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [LISTING_REFS_LOCK]);
      const existing = await this.chain(backupId, tx);
      if (existing.length > 0 || !me.rows[0]) return existing;
      const { host, created_at } = me.rows[0];
      const before = await tx.query<{ id: string }>(
        `SELECT b.id FROM backups b
         WHERE b.host = $1 AND b.id <> $2 AND (b.created_at, b.id) < ($3, $2) AND ${notEndedSql('b')}
           AND EXISTS (SELECT 1 FROM backup_listings l WHERE l.backup_id = b.id)
         ORDER BY b.created_at DESC, b.id DESC LIMIT 1`,
        [host, backupId, created_at],
      );
      const previous = before.rows[0] ? await this.chain(before.rows[0].id, tx) : [];
      const chosen = await choose(previous);
      for (const [seq, s] of chosen.entries()) {
        await tx.query(
          `INSERT INTO listing_segments (sha256, bytes, full_listing) VALUES ($1, $2, $3)
           ON CONFLICT (sha256) DO NOTHING`,
          [s.sha256, s.bytes, s.full],
        );
        await tx.query('INSERT INTO backup_listings (backup_id, seq, sha256) VALUES ($1, $2, $3)', [
          backupId,
          seq,
          s.sha256,
        ]);
      }
      return chosen;
    });
  }

  /** Of these segments, those the target's copy of was read whole and good since `since`. */
  async readGoodSince(target: string, shas: string[], since: Date): Promise<Set<string>> {
    if (!shas.length) return new Set();
    const r = await this.pool.query<{ sha256: string }>(
      'SELECT sha256 FROM target_listings WHERE target = $1 AND sha256 = ANY($2::text[]) AND checked_at >= $3',
      [target, shas, since],
    );
    return new Set(r.rows.map((row) => row.sha256));
  }

  /** Notes that the target's copies of these segments were read whole and good at `at`. */
  async readGood(target: string, shas: string[], at: Date): Promise<void> {
    if (!shas.length) return;
    await this.pool.query(
      `INSERT INTO target_listings (target, sha256, checked_at) SELECT $1, unnest($2::text[]), $3
       ON CONFLICT (target, sha256) DO UPDATE SET checked_at = GREATEST(target_listings.checked_at, $3)`,
      [target, shas, at],
    );
  }

  /** The kept backups with a copy on the target whose listing holds this segment. */
  async holding(target: string, sha256: string): Promise<CopyHolding[]> {
    const r = await this.pool.query<CopyHolding>(
      `SELECT b.id AS "backupId", b.host, b.key, c.status, ARRAY['(listing)'] AS paths
       FROM backups b JOIN backup_copies c ON c.backup_id = b.id AND c.target = $1
       WHERE EXISTS (SELECT 1 FROM backup_listings l WHERE l.backup_id = b.id AND l.sha256 = $2)
         AND ${SQL_KEPT} ORDER BY b.created_at, b.id`,
      [target, sha256],
    );
    return r.rows;
  }

  /**
   * Runs `fn` with the segments of this backup that no other backup needs on the target any more
   * (none that has not ended and whose copy there is not removed lists them), holding the lock so
   * no backup takes one on meanwhile: `fn` deletes them.
   */
  async unneededOn(backupId: string, target: string, fn: (shas: string[]) => Promise<void>): Promise<void> {
    await withTransaction(this.pool, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [LISTING_REFS_LOCK]);
      const r = await tx.query<{ sha256: string }>(
        `SELECT DISTINCT l.sha256 FROM backup_listings l WHERE l.backup_id = $1 AND NOT EXISTS (
           SELECT 1 FROM backup_listings o JOIN backups b ON b.id = o.backup_id
           WHERE o.sha256 = l.sha256 AND o.backup_id <> $1 AND ${notEndedSql('b')}
             AND NOT EXISTS (SELECT 1 FROM backup_removals r
                             WHERE r.backup_id = b.id AND r.copy = $2 AND r.removed_at IS NOT NULL))`,
        [backupId, target],
      );
      const shas = r.rows.map((row) => row.sha256);
      await fn(shas);
      await tx.query('DELETE FROM target_listings WHERE target = $1 AND sha256 = ANY($2::text[])', [
        target,
        shas,
      ]);
    });
  }
}

/**
 * Drops an ended (or forgotten) backup's chain, and the segments no backup lists any more: their
 * copies on the targets were deleted as each copy was removed (unneededOn). Call in the
 * transaction that ends the backup.
 */
export async function dropChain(tx: Queryable, backupId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [LISTING_REFS_LOCK]);
  const r = await tx.query<{ sha256: string }>(
    'DELETE FROM backup_listings WHERE backup_id = $1 RETURNING sha256',
    [backupId],
  );
  await tx.query(
    `DELETE FROM listing_segments s WHERE s.sha256 = ANY($1::text[])
       AND NOT EXISTS (SELECT 1 FROM backup_listings l WHERE l.sha256 = s.sha256)`,
    [r.rows.map((row) => row.sha256)],
  );
}
