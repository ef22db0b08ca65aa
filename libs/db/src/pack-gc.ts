import type { Clock } from '@fleet-backup/core';
import { recordPackRow, type WrittenPack } from './blob-index.ts';
import { BLOB_REFS_LOCK, LIVE_REF } from './blob-refs.ts';
import { type Pool, withTransaction } from './pool.ts';

/** A pack as gc sees it: its size and the bytes of the blobs that point at it. */
export interface PackUse {
  sha256: string;
  size: number;
  liveBytes: number;
}

/** A blob found in a pack's own index. */
export interface IndexedBlob {
  sha256: string;
  offset: number;
  length: number;
}

/**
 * Postgres' side of pack garbage collection. A blob is deleted from a pack by forgetting its
 * place (BlobGcStore); a pack no blob points at is deleted after the grace period; a pack mostly
 * dead is repacked, its live blobs moved to a new pack before the old one goes.
 */
export class PackGcStore {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /**
   * Packs of the target, with the bytes still pointing at them, for those at most `maxLiveFraction`
   * live: of the blob bytes they were written with, since their index is no dead weight.
   */
  async packsUsed(target: string, maxLiveFraction: number): Promise<PackUse[]> {
    const r = await this.pool.query<{ sha256: string; size: string; live: string }>(
      `SELECT tp.sha256, tp.size, COALESCE(sum(tb.size), 0) AS live
       FROM target_packs tp LEFT JOIN target_blobs tb ON tb.target = tp.target AND tb.pack = tp.sha256
       WHERE tp.target = $1 GROUP BY tp.sha256, tp.size, tp.payload
       HAVING COALESCE(sum(tb.size), 0) <= $2::float8 * COALESCE(tp.payload, tp.size) ORDER BY tp.sha256`,
      [target, maxLiveFraction],
    );
    return r.rows.map((row) => ({ sha256: row.sha256, size: Number(row.size), liveBytes: Number(row.live) }));
  }

  /** Records a pack found on the target that Postgres did not know (a crash after its upload). */
  async adopt(target: string, pack: WrittenPack): Promise<void> {
    await recordPackRow(this.pool, target, pack, this.clock.now());
  }

  async known(target: string): Promise<Set<string>> {
    const r = await this.pool.query<{ sha256: string }>('SELECT sha256 FROM target_packs WHERE target = $1', [
      target,
    ]);
    return new Set(r.rows.map((row) => row.sha256));
  }

  /**
   * Moves the places of blobs from an old pack to a new one (a repack), with the new pack recorded
   * first. Only blobs still placed in the old pack move; the old pack's grace period starts now.
   */
  async movePlaces(target: string, from: string, to: WrittenPack): Promise<void> {
    const now = this.clock.now();
    await withTransaction(this.pool, async (tx) => {
      await recordPackRow(tx, target, to, now);
      await tx.query(
        `UPDATE target_blobs tb SET pack = $3, pack_offset = e.pos
         FROM unnest($4::text[], $5::bigint[]) AS e(sha256, pos)
         WHERE tb.target = $1 AND tb.pack = $2 AND tb.sha256 = e.sha256`,
        [target, from, to.sha256, to.entries.map((e) => e.sha256), to.entries.map((e) => e.offset)],
      );
      await tx.query('UPDATE target_packs SET released_at = $3 WHERE target = $1 AND sha256 = $2', [
        target,
        from,
        now,
      ]);
    });
  }

  /** Packs no blob points at whose grace period has passed (since stored, adopted or released). */
  async deadPacks(target: string, graceMs: number): Promise<{ sha256: string; size: number }[]> {
    const before = new Date(this.clock.now().getTime() - graceMs);
    const r = await this.pool.query<{ sha256: string; size: string }>(
      `SELECT tp.sha256, tp.size FROM target_packs tp
       WHERE tp.target = $1 AND COALESCE(tp.released_at, tp.stored_at) <= $2
         AND NOT EXISTS (SELECT 1 FROM target_blobs tb WHERE tb.target = tp.target AND tb.pack = tp.sha256)
       ORDER BY tp.sha256`,
      [target, before],
    );
    return r.rows.map((row) => ({ sha256: row.sha256, size: Number(row.size) }));
  }

  /**
   * Deletes a dead pack through `remove`, under the exclusive reference lock, unless something
   * still needs it: a blob place that points at it now, or a blob of its index that a backup not
   * yet ended references and that the target holds nowhere else (Postgres lost its place: it is
   * recorded here again, and the pack kept). 'kept' or 'deleted'.
   */
  async sweepPack(
    target: string,
    pack: string,
    entries: IndexedBlob[],
    remove: () => Promise<void>,
  ): Promise<'kept' | 'deleted'> {
    return withTransaction(this.pool, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [BLOB_REFS_LOCK]);
      const pointed = await tx.query('SELECT 1 FROM target_blobs WHERE target = $1 AND pack = $2 LIMIT 1', [
        target,
        pack,
      ]);
      if (pointed.rowCount) return 'kept';
      const rescued = await tx.query(
        `INSERT INTO target_blobs (target, sha256, size, stored_at, pack, pack_offset)
         SELECT $1, c.sha256, c.len, $6, $2, c.pos
         FROM unnest($3::text[], $4::bigint[], $5::bigint[]) AS c(sha256, pos, len)
         WHERE EXISTS (${LIVE_REF})
         ON CONFLICT DO NOTHING`,
        [
          target,
          pack,
          entries.map((e) => e.sha256),
          entries.map((e) => e.offset),
          entries.map((e) => e.length),
          this.clock.now(),
        ],
      );
      if (rescued.rowCount) return 'kept';
      await remove();
      await tx.query('DELETE FROM target_packs WHERE target = $1 AND sha256 = $2', [target, pack]);
      return 'deleted';
    });
  }
}
