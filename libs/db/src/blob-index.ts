import type { Clock } from '@fleet-backup/core';
import { ChunkLists } from './blob-chunks.ts';
import { type Pool, type Queryable, withTransaction } from './pool.ts';

/** Where a blob sits in a pack on a target (the storage lib's PackedPlace). */
export interface PackedPlace {
  pack: string;
  offset: number;
  length: number;
}

/** A file's blob stored in chunks on a target: every chunk's place (the storage lib's ChunkedPlace). */
export interface ChunkedPlaces {
  chunks: { sha256: string; length: number; place: PackedPlace | null }[];
}

/** A pack just written: its sha256, size and the place of each blob in it. */
export interface WrittenPack {
  sha256: string;
  size: number;
  entries: { sha256: string; offset: number; length: number }[];
}

/**
 * Which blobs each target is known to hold, and where: in a pack, or as their own object. A hint
 * that the bucket confirms (a head request) before an upload is skipped.
 */
export class BlobIndex {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /**
   * Of these blobs, the ones the target is known to hold, each with its place: a PackedPlace in a
   * pack, ChunkedPlaces when the target holds every chunk of a chunked file's blob, or null for a
   * blob stored as its own object. A blob's own row wins over its chunks (stored before chunking).
   */
  async places(target: string, sha256s: string[]): Promise<Map<string, PackedPlace | ChunkedPlaces | null>> {
    const found: Map<string, PackedPlace | ChunkedPlaces | null> = await this.rowPlaces(target, sha256s);
    const lists = await new ChunkLists(this.pool).of(sha256s.filter((s) => !found.has(s)));
    const chunkShas = [...new Set([...lists.values()].flat().map((c) => c.sha256))];
    const chunkPlaces = await this.rowPlaces(target, chunkShas);
    for (const [blob, list] of lists) {
      if (!list.every((c) => chunkPlaces.has(c.sha256))) continue;
      const chunks = list.map((c) => ({
        sha256: c.sha256,
        length: c.size,
        place: chunkPlaces.get(c.sha256) ?? null,
      }));
      found.set(blob, { chunks });
    }
    return found;
  }

  private async rowPlaces(target: string, sha256s: string[]): Promise<Map<string, PackedPlace | null>> {
    const found = new Map<string, PackedPlace | null>();
    if (!sha256s.length) return found;
    const r = await this.pool.query<{
      sha256: string;
      size: string;
      pack: string | null;
      pos: string | null;
    }>(
      `SELECT sha256, size, pack, pack_offset AS pos FROM target_blobs
       WHERE target = $1 AND sha256 = ANY($2::text[])`,
      [target, sha256s],
    );
    for (const row of r.rows) {
      const place =
        row.pack === null ? null : { pack: row.pack, offset: Number(row.pos), length: Number(row.size) };
      found.set(row.sha256, place);
    }
    return found;
  }

  /** The blobs whose place is in this pack, in offset order. */
  async placesIn(
    target: string,
    pack: string,
  ): Promise<{ sha256: string; offset: number; length: number }[]> {
    const r = await this.pool.query<{ sha256: string; pos: string; len: string }>(
      `SELECT sha256, pack_offset AS pos, size AS len FROM target_blobs
       WHERE target = $1 AND pack = $2 ORDER BY pack_offset`,
      [target, pack],
    );
    return r.rows.map((row) => ({
      sha256: row.sha256,
      offset: Number(row.pos),
      length: Number(row.len),
    }));
  }

  /** The place of one blob on a target (undefined: not known there, or its own object). */
  async placeOf(target: string, sha256: string): Promise<PackedPlace | ChunkedPlaces | undefined> {
    return (await this.places(target, [sha256])).get(sha256) ?? undefined;
  }

  /**
   * Records a pack just uploaded and points its blobs at it, in one transaction. A blob known
   * elsewhere on the target keeps its place (two writers can pack the same blob; one place is
   * enough, and the other pack's copy is garbage for gc).
   */
  async recordPack(target: string, pack: WrittenPack): Promise<void> {
    const now = this.clock.now();
    await withTransaction(this.pool, async (tx) => {
      await recordPackRow(tx, target, pack, now);
      await tx.query(
        `INSERT INTO target_blobs (target, sha256, size, stored_at, pack, pack_offset)
         SELECT $1, e.sha256, e.len, $3, $2, e.pos
         FROM unnest($4::text[], $5::bigint[], $6::bigint[]) AS e(sha256, pos, len)
         ON CONFLICT DO NOTHING`,
        [
          target,
          pack.sha256,
          now,
          pack.entries.map((e) => e.sha256),
          pack.entries.map((e) => e.offset),
          pack.entries.map((e) => e.length),
        ],
      );
    });
  }

  /** Records that a blob now lives as its own object (a bad packed blob replaced by a repair). */
  async movedToOwnObject(target: string, sha256: string): Promise<void> {
    await this.pool.query(
      'UPDATE target_blobs SET pack = NULL, pack_offset = NULL WHERE target = $1 AND sha256 = $2',
      [target, sha256],
    );
  }

  async forget(target: string, sha256: string): Promise<void> {
    await this.pool.query('DELETE FROM target_blobs WHERE target = $1 AND sha256 = $2', [target, sha256]);
  }

  /** Forgets every blob the target was thought to hold in a pack that turned out to be gone. */
  async forgetPack(target: string, pack: string): Promise<void> {
    await withTransaction(this.pool, async (tx) => {
      await tx.query('DELETE FROM target_blobs WHERE target = $1 AND pack = $2', [target, pack]);
      await tx.query('DELETE FROM target_packs WHERE target = $1 AND sha256 = $2', [target, pack]);
    });
  }
}

/** Records that a target holds a pack, with its blobs' count and bytes (a row already there stays). */
export async function recordPackRow(
  q: Queryable,
  target: string,
  pack: WrittenPack,
  at: Date,
): Promise<void> {
  const payload = pack.entries.reduce((sum, e) => sum + e.length, 0);
  await q.query(
    `INSERT INTO target_packs (target, sha256, size, blobs, payload, stored_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING`,
    [target, pack.sha256, pack.size, pack.entries.length, payload, at],
  );
}
