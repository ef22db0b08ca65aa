import type { Clock } from '@fleet-backup/core';
import { ADVISORY_LOCKS } from './advisory-locks.ts';
import { notEndedSql, SQL_ENDED } from './lifecycle-sql.ts';
import { type Pool, type Queryable, withTransaction } from './pool.ts';

/**
 * Advisory lock between blob references and garbage collection. Whoever adds file versions
 * holds it shared until commit (holdBlobReferences); gc holds it exclusively while it checks
 * references and deletes. So a reference is either committed before gc looks (gc sees it), or
 * waits until gc is done (and a replicate after that finds the blob gone and uploads it again).
 */
export const BLOB_REFS_LOCK = ADVISORY_LOCKS.blobRefs;

/** Call inside any transaction that adds file versions (backup_files rows), before adding them. */
export async function holdBlobReferences(tx: Queryable): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [BLOB_REFS_LOCK]);
}

/** A blob as found on a target (bucket listing) or in target_blobs. */
export interface BlobCandidate {
  sha256: string;
  size: number;
  /** The pack holding it, when it is in one: forgetting it is all its deletion takes. */
  pack?: string | null;
}

export interface BlobVerdict extends BlobCandidate {
  /** referenced: a backup not yet ended lists it; waiting: inside the grace period; deletable. */
  state: 'referenced' | 'waiting' | 'deletable';
  /** Since when it is unreferenced as far as Postgres can tell (stored, last reference ended, first seen). */
  since: Date | null;
  deleted: boolean;
}

/**
 * The file blobs that hold blob `c`: itself, and every chunked file's blob it is a chunk of. A
 * chunk is referenced exactly when a file made of it is.
 */
const HOLDERS = `(SELECT c.sha256 UNION ALL SELECT bc.blob_sha256 FROM blob_chunks bc WHERE bc.chunk_sha256 = c.sha256)`;
export const LIVE_REF = `SELECT 1 FROM backup_files f JOIN backups b ON b.id = f.backup_id
  WHERE f.blob_sha256 IN ${HOLDERS} AND ${notEndedSql('b')}`;
const RELEASED = `SELECT max(b.lifecycle_changed_at) FROM backup_files f JOIN backups b ON b.id = f.backup_id
  WHERE f.blob_sha256 IN ${HOLDERS} AND b.lifecycle IN ${SQL_ENDED}`;

/** Postgres' side of blob garbage collection: what each target holds and which blobs may go. */
export class BlobGcStore {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** The blobs Postgres knows a target holds, a page at a time in sha256 order. */
  async *knownBlobs(target: string, pageSize = 500): AsyncGenerator<BlobCandidate[]> {
    let after = '';
    for (;;) {
      const r = await this.pool.query<BlobCandidate>(
        `SELECT sha256, size, pack FROM target_blobs WHERE target = $1 AND sha256 > $2 ORDER BY sha256 LIMIT $3`,
        [target, after, pageSize],
      );
      if (r.rows.length === 0) return;
      yield r.rows;
      after = r.rows[r.rows.length - 1]?.sha256 ?? after;
    }
  }

  /** `host/key` of every backup not ended: their manifests' references are in Postgres already. */
  async liveBackupKeys(): Promise<Set<string>> {
    const r = await this.pool.query<{ k: string }>(
      `SELECT b.host || '/' || b.key AS k FROM backups b WHERE ${notEndedSql('b')}`,
    );
    return new Set(r.rows.map((row) => row.k));
  }

  /**
   * Judges a batch of unreferenced-looking blobs under the exclusive lock and, unless dryRun,
   * deletes the deletable ones through `remove` before the lock is released. A blob may go only
   * when no backup that has not ended references it and the grace period has passed since it was
   * stored, since its last reference ended, or (for a blob Postgres never knew) since gc first saw it.
   */
  async sweep(
    target: string,
    batch: BlobCandidate[],
    graceMs: number,
    opts: { dryRun: boolean; remove: (deletable: BlobCandidate[]) => Promise<string[]> },
  ): Promise<BlobVerdict[]> {
    return withTransaction(this.pool, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [BLOB_REFS_LOCK]);
      const now = this.clock.now();
      const r = await tx.query(
        `WITH c AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS c(sha256, size))
         SELECT c.sha256, c.size, tb.stored_at, s.first_seen,
                EXISTS (${LIVE_REF}) AS referenced, (${RELEASED}) AS released
         FROM c
         LEFT JOIN target_blobs tb ON tb.target = $1 AND tb.sha256 = c.sha256
         LEFT JOIN gc_sightings s ON s.target = $1 AND s.sha256 = c.sha256`,
        [target, batch.map((b) => b.sha256), batch.map((b) => b.size)],
      );
      const packOf = new Map(batch.map((b) => [b.sha256, b.pack]));
      const verdicts: BlobVerdict[] = [];
      const unseen: string[] = [];
      for (const row of r.rows as SweepRow[]) {
        const pack = packOf.get(row.sha256) ?? null;
        const base = { sha256: row.sha256, size: row.size, pack, deleted: false };
        if (row.referenced) {
          verdicts.push({ ...base, state: 'referenced', since: null });
          continue;
        }
        const dates = [row.stored_at, row.first_seen, row.released].filter((d): d is Date => d !== null);
        if (dates.length === 0) unseen.push(row.sha256);
        const since = dates.length ? new Date(Math.max(...dates.map((d) => d.getTime()))) : now;
        const state = since.getTime() + graceMs <= now.getTime() ? 'deletable' : 'waiting';
        verdicts.push({ ...base, state, since });
      }
      if (opts.dryRun) return verdicts;
      await this.rememberSightings(tx, target, unseen, now);
      const referenced = verdicts.filter((v) => v.state === 'referenced').map((v) => v.sha256);
      await this.clearSightings(target, referenced, tx);
      const deleted = new Set(await opts.remove(verdicts.filter((v) => v.state === 'deletable')));
      for (const v of verdicts) v.deleted = deleted.has(v.sha256);
      await this.forget(tx, target, [...deleted]);
      return verdicts;
    });
  }

  /** Drops the records of blobs that are gone from a target (or were found referenced by a manifest). */
  async forget(q: Queryable, target: string, shas: string[]): Promise<void> {
    if (shas.length === 0) return;
    await q.query('DELETE FROM target_blobs WHERE target = $1 AND sha256 = ANY($2::text[])', [target, shas]);
    await q.query('DELETE FROM gc_sightings WHERE target = $1 AND sha256 = ANY($2::text[])', [target, shas]);
  }

  /** Forgets sightings of blobs a manifest outside Postgres references: they are in use after all. */
  async clearSightings(target: string, shas: string[], q: Queryable = this.pool): Promise<void> {
    if (shas.length === 0) return;
    await q.query('DELETE FROM gc_sightings WHERE target = $1 AND sha256 = ANY($2::text[])', [target, shas]);
  }

  private async rememberSightings(tx: Queryable, target: string, shas: string[], now: Date): Promise<void> {
    if (shas.length === 0) return;
    await tx.query(
      `INSERT INTO gc_sightings (target, sha256, first_seen) SELECT $1, sha, $3 FROM unnest($2::text[]) sha
       ON CONFLICT DO NOTHING`,
      [target, shas, now],
    );
  }
}

interface SweepRow {
  sha256: string;
  size: number;
  stored_at: Date | null;
  first_seen: Date | null;
  referenced: boolean;
  released: Date | null;
}
