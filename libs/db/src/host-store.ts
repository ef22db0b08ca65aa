import type { Clock } from '@fleet-backup/core';
import type { Pool } from './pool.ts';

export interface HostRow {
  id: string;
  firstSeen: Date;
  /** Null until an agent for the host has run. */
  lastSeen: Date | null;
}

/** The hosts backups can be taken of; agents register themselves, the producer registers configured ones. */
export class HostStore {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** Inserts the host or refreshes its last-seen time. */
  async touch(id: string): Promise<void> {
    const now = this.clock.now();
    await this.pool.query(
      `INSERT INTO hosts (id, first_seen, last_seen) VALUES ($1, $2, $2)
       ON CONFLICT (id) DO UPDATE SET last_seen = GREATEST(hosts.last_seen, EXCLUDED.last_seen)`,
      [id, now],
    );
  }

  /** Registers a host named in the config without claiming its agent was seen. */
  async ensure(id: string): Promise<void> {
    const now = this.clock.now();
    await this.pool.query('INSERT INTO hosts (id, first_seen) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [
      id,
      now,
    ]);
  }

  async list(): Promise<HostRow[]> {
    const r = await this.pool.query('SELECT * FROM hosts ORDER BY id');
    return r.rows.map((row: { id: string; first_seen: Date; last_seen: Date | null }) => ({
      id: row.id,
      firstSeen: row.first_seen,
      lastSeen: row.last_seen,
    }));
  }
}
