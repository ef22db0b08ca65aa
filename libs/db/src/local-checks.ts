import { type Clock, LOCAL_COPY } from '@fleet-backup/core';
import { sliceBounds } from './copy-checks.ts';
import { SQL_KEPT } from './lifecycle-sql.ts';
import type { Pool, Queryable } from './pool.ts';

/** One file of a host's local copy, as stored: BACKUP_ROOT/<key>/<storedPath> holds the blob. */
export interface LocalFile {
  backupId: string;
  key: string;
  /** Metadata path. */
  path: string;
  storedPath: string;
  /** sha256 and size of the stored bytes (the ciphertext of an encrypted file). */
  sha256: string;
  size: number;
}

const LOCAL_FILE_COLUMNS = `f.backup_id AS "backupId", b.key, f.path, f.stored_path AS "storedPath",
  f.blob_sha256 AS sha256, COALESCE(f.stored_size, f.size) AS size`;

/**
 * The host's side of the rolling re-read: when each file of its local copies was last read back
 * (the hash stage is the first read), today's slice, and where a blob can be found on the host.
 */
export class LocalChecks {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** Files of one backup that read good just now. */
  async filesGood(backupId: string, paths: string[], q: Queryable = this.pool): Promise<void> {
    if (!paths.length) return;
    await q.query(
      // On the version: an unchanged file's stored copy is one inode, hardlinked into each backup.
      `UPDATE file_versions v SET local_checked_at = $3 FROM backups b
       WHERE b.id = $1 AND v.series_id = b.series_id AND v.path = ANY($2::text[])
         AND v.first_seq <= b.seq AND (v.last_seq IS NULL OR v.last_seq >= b.seq)`,
      [backupId, paths, this.clock.now()],
    );
  }

  /**
   * Today's slice of the host's local copies: files of kept backups whose local copy was written
   * and hashed, oldest read first, about 1/window of their bytes (see SliceBounds).
   */
  async slice(host: string, windowDays: number): Promise<LocalFile[]> {
    const held = `FROM backup_files f JOIN backups b ON b.id = f.backup_id
                  WHERE b.host = $1 AND f.hashed_at IS NOT NULL AND ${SQL_KEPT}`;
    const total = await this.pool.query<{ bytes: number | null }>(
      `SELECT sum(COALESCE(f.stored_size, f.size))::bigint AS bytes ${held}`,
      [host],
    );
    const bounds = sliceBounds(Number(total.rows[0]?.bytes ?? 0), windowDays, this.clock.now());
    const r = await this.pool.query<LocalFile>(
      `WITH ordered AS (
         SELECT ${LOCAL_FILE_COLUMNS}, COALESCE(f.local_checked_at, f.hashed_at) AS last,
                sum(COALESCE(f.stored_size, f.size)) OVER (
                  ORDER BY COALESCE(f.local_checked_at, f.hashed_at), f.backup_id, f.path ROWS UNBOUNDED PRECEDING
                ) - COALESCE(f.stored_size, f.size) AS before
         ${held})
       SELECT "backupId", key, path, "storedPath", sha256, size FROM ordered
       WHERE before < $2 OR (last <= $3 AND before < 2 * $2::bigint)
       ORDER BY last, "backupId", path`,
      [host, bounds.budget, bounds.overdueBefore],
    );
    return r.rows;
  }

  /**
   * A file on the host holding these bytes in a kept backup whose local copy is verified: a good
   * source to upload a blob again from. Null when the host has none.
   */
  async verifiedHolder(host: string, sha256: string): Promise<LocalFile | null> {
    const r = await this.pool.query<LocalFile>(
      `SELECT ${LOCAL_FILE_COLUMNS} FROM backup_files f JOIN backups b ON b.id = f.backup_id
       JOIN backup_copies c ON c.backup_id = b.id AND c.target = $3 AND c.status = 'verified'
       WHERE b.host = $1 AND f.blob_sha256 = $2 AND ${SQL_KEPT}
       ORDER BY b.created_at DESC LIMIT 1`,
      [host, sha256, LOCAL_COPY],
    );
    return r.rows[0] ?? null;
  }

  /**
   * The newest verified local file on the host whose stored bytes hold this chunk of a large
   * file, with where in the file the chunk starts and its size; null when none.
   */
  async verifiedChunkHolder(
    host: string,
    chunk: string,
  ): Promise<{ file: LocalFile; offset: number; size: number } | null> {
    const r = await this.pool.query<LocalFile & { chunkOffset: string; chunkSize: string }>(
      `SELECT ${LOCAL_FILE_COLUMNS}, bc.chunk_offset AS "chunkOffset", bc.size AS "chunkSize"
       FROM blob_chunks bc JOIN backup_files f ON f.blob_sha256 = bc.blob_sha256
       JOIN backups b ON b.id = f.backup_id
       JOIN backup_copies c ON c.backup_id = b.id AND c.target = $3 AND c.status = 'verified'
       WHERE b.host = $1 AND bc.chunk_sha256 = $2 AND ${SQL_KEPT}
       ORDER BY b.created_at DESC LIMIT 1`,
      [host, chunk, LOCAL_COPY],
    );
    const row = r.rows[0];
    if (!row) return null;
    const { chunkOffset, chunkSize, ...file } = row;
    return { file, offset: Number(chunkOffset), size: Number(chunkSize) };
  }

  /** Hosts with a verified local copy of a kept backup holding these bytes (a file, or a chunk of one). */
  async hostsHolding(sha256: string): Promise<string[]> {
    const r = await this.pool.query<{ host: string }>(
      `SELECT DISTINCT b.host FROM backup_files f JOIN backups b ON b.id = f.backup_id
       JOIN backup_copies c ON c.backup_id = b.id AND c.target = $2 AND c.status = 'verified'
       WHERE (f.blob_sha256 = $1 OR f.blob_sha256 IN (SELECT blob_sha256 FROM blob_chunks WHERE chunk_sha256 = $1))
         AND ${SQL_KEPT} ORDER BY b.host`,
      [sha256, LOCAL_COPY],
    );
    return r.rows.map((row) => row.host);
  }
}
