import type { Pool } from './pool.ts';

/** One chunk of a file's blob: its own sha256, where it starts in the file, and its size. */
export interface BlobChunk {
  sha256: string;
  offset: number;
  size: number;
}

/** The chunk lists of large files' blobs (content-defined, so the same for every target). */
export class ChunkLists {
  private readonly pool: Pool;

  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** Records a blob's chunks once; a list already there is the same list (its bytes decide it). */
  async record(blob: string, chunks: BlobChunk[]): Promise<void> {
    if (!chunks.length) return;
    await this.pool.query(
      `INSERT INTO blob_chunks (blob_sha256, seq, chunk_sha256, chunk_offset, size)
       SELECT $1, c.seq - 1, c.sha, c.pos, c.len
       FROM unnest($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS c(sha, pos, len, seq)
       ON CONFLICT DO NOTHING`,
      [blob, chunks.map((c) => c.sha256), chunks.map((c) => c.offset), chunks.map((c) => c.size)],
    );
  }

  /** The chunk lists of those of these blobs that were stored chunked, in order. */
  async of(blobs: string[]): Promise<Map<string, BlobChunk[]>> {
    const lists = new Map<string, BlobChunk[]>();
    if (!blobs.length) return lists;
    const r = await this.pool.query<{ blob: string; sha256: string; pos: string; size: string }>(
      `SELECT blob_sha256 AS blob, chunk_sha256 AS sha256, chunk_offset AS pos, size FROM blob_chunks
       WHERE blob_sha256 = ANY($1::text[]) ORDER BY blob_sha256, seq`,
      [blobs],
    );
    for (const row of r.rows) {
      const list = lists.get(row.blob) ?? [];
      list.push({ sha256: row.sha256, offset: Number(row.pos), size: Number(row.size) });
      lists.set(row.blob, list);
    }
    return lists;
  }
}
