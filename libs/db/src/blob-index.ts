import type { Clock } from '@fleet-backup/core';
import type { Pool } from './pool.ts';

/** Which blobs each target is known to hold; a hint that a head request confirms before skipping an upload. */
export class BlobIndex {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  async known(target: string, sha256: string): Promise<boolean> {
    const r = await this.pool.query('SELECT 1 FROM target_blobs WHERE target = $1 AND sha256 = $2', [
      target,
      sha256,
    ]);
    return r.rowCount === 1;
  }

  async record(target: string, sha256: string, size: number): Promise<void> {
    await this.pool.query(
      'INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
      [target, sha256, size, this.clock.now()],
    );
  }

  async forget(target: string, sha256: string): Promise<void> {
    await this.pool.query('DELETE FROM target_blobs WHERE target = $1 AND sha256 = $2', [target, sha256]);
  }
}
