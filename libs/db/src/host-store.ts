import { type BackupStatus, type Clock, NotFoundFailure } from '@fleet-backup/core';
import { type Pool, type Queryable, withTransaction } from './pool.ts';

export interface HostSource {
  path: string;
  /** Everything under it is classified as configuration. */
  config: boolean;
}

/** What a host's config says about it: what its daily backs up, and when. */
export interface HostDetails {
  sources: HostSource[];
  labels: Record<string, string>;
  /** IANA zone; null means UTC. */
  timeZone: string | null;
  /** Local `HH:MM` and jitter window; null means the installation's defaults. */
  dailyAt: string | null;
  dailyJitterMinutes: number | null;
}

export interface HostRow extends HostDetails {
  id: string;
  firstSeen: Date;
  /** Null until an agent for the host has run. */
  lastSeen: Date | null;
  /** Listed in the producer's config file. */
  inConfig: boolean;
  /** Set when the host left the fleet: no scheduler, never overdue. */
  deregisteredAt: Date | null;
}

export interface DailySummary {
  id: string;
  key: string;
  status: BackupStatus;
  createdAt: Date;
}

export interface HostWithDailies extends HostRow {
  /** The newest daily, whatever its status. */
  lastDaily: DailySummary | null;
  /** Creation time of the newest verified daily. */
  lastVerifiedDaily: Date | null;
}

/** What an agent registers: its zone always; the rest only when its config lists the host. */
export interface Registration {
  timeZone: string;
  details: HostDetails | null;
}

// Whether to take the registered value or keep the stored one, per column, as SQL.
const TAKE_DETAILS = (flag: string) =>
  ['sources', 'labels', 'daily_at', 'daily_jitter_minutes']
    .map((c) => `${c} = CASE WHEN ${flag} THEN EXCLUDED.${c} ELSE hosts.${c} END`)
    .join(',\n         ');

/**
 * The fleet's hosts. Agents register themselves (and heartbeat); the producer registers the
 * hosts its config lists, and deregisters those removed from it. Rows stay: backups reference them.
 */
export class HostStore {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** Inserts the host or refreshes its last-seen time (the agent's heartbeat). */
  async touch(id: string): Promise<void> {
    const now = this.clock.now();
    await this.pool.query(
      `INSERT INTO hosts (id, first_seen, last_seen) VALUES ($1, $2, $2)
       ON CONFLICT (id) DO UPDATE SET last_seen = GREATEST(hosts.last_seen, EXCLUDED.last_seen)`,
      [id, now],
    );
  }

  /**
   * An agent starting: upserts the host with what its config says, marks it seen, and brings a
   * deregistered host back into the fleet (an agent running for it says it is part of it).
   */
  async register(id: string, reg: Registration): Promise<HostRow> {
    const d = reg.details;
    const r = await this.pool.query(
      `INSERT INTO hosts (id, first_seen, last_seen, time_zone, sources, labels, daily_at, daily_jitter_minutes)
       VALUES ($1, $2, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET
         last_seen = GREATEST(hosts.last_seen, EXCLUDED.last_seen),
         deregistered_at = NULL,
         time_zone = EXCLUDED.time_zone,
         ${TAKE_DETAILS('$8::boolean')}
       RETURNING *`,
      [
        id,
        this.clock.now(),
        reg.timeZone,
        JSON.stringify(d?.sources ?? []),
        JSON.stringify(d?.labels ?? {}),
        d?.dailyAt ?? null,
        d?.dailyJitterMinutes ?? null,
        d !== null,
      ],
    );
    return toHost(r.rows[0]);
  }

  /**
   * The configuration's hosts: registers them with their details (sources, labels, daily time:
   * the configuration is the one truth, and agents register from the same version), and with
   * `prune`, deregisters hosts that were configured and are no longer. In `tx` when given (a
   * version being applied), else in a transaction of its own. Returns the ids deregistered.
   */
  async syncConfigured(
    hosts: Record<string, HostDetails>,
    opts: { prune: boolean; tx?: Queryable },
  ): Promise<string[]> {
    const sync = async (tx: Queryable) => {
      const now = this.clock.now();
      for (const [id, d] of Object.entries(hosts)) {
        await tx.query(
          `INSERT INTO hosts (id, first_seen, time_zone, sources, labels, daily_at, daily_jitter_minutes, in_config)
           VALUES ($1, $2, $3, $4, $5, $6, $7, true)
           ON CONFLICT (id) DO UPDATE SET
             -- Newly added to the config: back in the fleet. Still listed: a deregistration stands.
             deregistered_at = CASE WHEN hosts.in_config THEN hosts.deregistered_at ELSE NULL END,
             in_config = true,
             -- A zone the configuration names wins; else the one the host's agent reported stays.
             time_zone = CASE WHEN hosts.last_seen IS NULL OR EXCLUDED.time_zone IS NOT NULL THEN EXCLUDED.time_zone ELSE hosts.time_zone END,
             ${TAKE_DETAILS('true')}`,
          [
            id,
            now,
            d.timeZone,
            JSON.stringify(d.sources),
            JSON.stringify(d.labels),
            d.dailyAt,
            d.dailyJitterMinutes,
          ],
        );
      }
      if (!opts.prune) return [];
      const gone = await tx.query<{ id: string }>(
        `UPDATE hosts SET in_config = false, deregistered_at = COALESCE(deregistered_at, $2)
         WHERE in_config AND NOT (id = ANY($1::text[])) RETURNING id`,
        [Object.keys(hosts), now],
      );
      return gone.rows.map((r) => r.id).sort();
    };
    return opts.tx ? sync(opts.tx) : withTransaction(this.pool, sync);
  }

  /** Takes a host out of the fleet (its scheduler goes, it is never overdue); its backups stay. */
  async deregister(id: string): Promise<HostRow> {
    const r = await this.pool.query(
      'UPDATE hosts SET deregistered_at = COALESCE(deregistered_at, $2) WHERE id = $1 RETURNING *',
      [id, this.clock.now()],
    );
    if (!r.rows[0]) throw new NotFoundFailure(`host ${id} is not registered`, { host: id });
    return toHost(r.rows[0]);
  }

  async get(id: string): Promise<HostRow | null> {
    const r = await this.pool.query('SELECT * FROM hosts WHERE id = $1', [id]);
    return r.rows[0] ? toHost(r.rows[0]) : null;
  }

  async list(): Promise<HostRow[]> {
    const r = await this.pool.query('SELECT * FROM hosts ORDER BY id');
    return r.rows.map(toHost);
  }

  /** Every host with its newest daily and newest verified daily, for `hosts` and overdue checks. */
  async listWithDailies(): Promise<HostWithDailies[]> {
    const r = await this.pool.query(
      `SELECT h.*, d.id AS daily_id, d.key AS daily_key, d.status AS daily_status,
              d.created_at AS daily_created, v.created_at AS verified_daily_created
       FROM hosts h
       LEFT JOIN LATERAL (
         SELECT id, key, status, created_at FROM backups
         WHERE host = h.id AND kind = 'daily' ORDER BY created_at DESC LIMIT 1) d ON true
       LEFT JOIN LATERAL (
         SELECT created_at FROM backups
         WHERE host = h.id AND kind = 'daily' AND status = 'verified' ORDER BY created_at DESC LIMIT 1) v ON true
       ORDER BY h.id`,
    );
    return r.rows.map((row: DailyColumns & Record<string, unknown>) => ({
      ...toHost(row),
      lastDaily: row.daily_id
        ? {
            id: row.daily_id,
            key: row.daily_key ?? '',
            status: row.daily_status as BackupStatus,
            createdAt: row.daily_created ?? new Date(0),
          }
        : null,
      lastVerifiedDaily: row.verified_daily_created,
    }));
  }
}

interface DailyColumns {
  daily_id: string | null;
  daily_key: string | null;
  daily_status: string | null;
  daily_created: Date | null;
  verified_daily_created: Date | null;
}

function toHost(row: Record<string, unknown>): HostRow {
  return {
    id: row.id as string,
    firstSeen: row.first_seen as Date,
    lastSeen: (row.last_seen as Date | null) ?? null,
    sources: (row.sources as HostSource[] | undefined) ?? [],
    labels: (row.labels as Record<string, string> | undefined) ?? {},
    timeZone: (row.time_zone as string | null | undefined) ?? null,
    dailyAt: (row.daily_at as string | null | undefined) ?? null,
    dailyJitterMinutes: (row.daily_jitter_minutes as number | null | undefined) ?? null,
    inConfig: (row.in_config as boolean | undefined) ?? false,
    deregisteredAt: (row.deregistered_at as Date | null | undefined) ?? null,
  };
}
