import type { Clock } from '@fleet-backup/core';
import { ADVISORY_LOCKS } from './advisory-locks.ts';
import { type Pool, type Queryable, withTransaction } from './pool.ts';

/** How a version came: `config apply`, a producer's FLEET_BACKUP_CONFIG, or `start`'s embedded defaults. */
export type ConfigOrigin = 'apply' | 'file' | 'embedded';

/** One applied version of the installation's configuration. */
export interface ConfigVersion {
  version: number;
  /** The validated document (libs/config's configFileSchema); parsed by the reader. */
  doc: unknown;
  appliedBy: string;
  appliedAt: Date;
  origin: ConfigOrigin;
}

export type ConfigVersionHead = Omit<ConfigVersion, 'doc'>;

/** Told inside the transaction that stores a new version, before it commits (the hosts follow it there). */
export type OnApplied = (tx: Queryable, version: number) => Promise<void>;

const HEAD = 'version, applied_by, applied_at, origin';

/**
 * The configuration's versions (config_versions). Every role and CLI reads the newest; a version
 * is never changed once stored, so any backup's `config_version` names exactly what planned it.
 */
export class ConfigStore {
  private readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** The newest version's number, null before any: one index probe, cheap enough before every job. */
  async currentVersion(q: Queryable = this.pool): Promise<number | null> {
    const r = await q.query<{ version: number }>(
      'SELECT version FROM config_versions ORDER BY version DESC LIMIT 1',
    );
    return r.rows[0]?.version ?? null;
  }

  /** The newest version, or null before any was applied. */
  async current(q: Queryable = this.pool): Promise<ConfigVersion | null> {
    const r = await q.query(`SELECT ${HEAD}, doc FROM config_versions ORDER BY version DESC LIMIT 1`);
    return r.rows[0] ? toVersion(r.rows[0]) : null;
  }

  async get(version: number): Promise<ConfigVersion | null> {
    const r = await this.pool.query(`SELECT ${HEAD}, doc FROM config_versions WHERE version = $1`, [version]);
    return r.rows[0] ? toVersion(r.rows[0]) : null;
  }

  /** Every version without its document, newest first. */
  async history(): Promise<ConfigVersionHead[]> {
    const r = await this.pool.query(`SELECT ${HEAD} FROM config_versions ORDER BY version DESC`);
    return r.rows.map(toHead);
  }

  /**
   * Stores `doc` as the next version unless it equals the newest (jsonb equality: key order and
   * spacing do not count), all or nothing: `onApplied` runs in the same transaction. Appliers
   * queue on an advisory lock, so two at once get consecutive versions; `previous` is the version
   * each was stored over, to diff against.
   */
  async apply(
    doc: unknown,
    by: { appliedBy: string; origin: ConfigOrigin },
    onApplied?: OnApplied,
  ): Promise<{ version: ConfigVersion; created: boolean; previous: ConfigVersion | null }> {
    return withTransaction(this.pool, async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [ADVISORY_LOCKS.configApply]);
      const newest = await tx.query(
        `SELECT ${HEAD}, doc, doc = $1::jsonb AS same FROM config_versions ORDER BY version DESC LIMIT 1`,
        [JSON.stringify(doc)],
      );
      const previous = newest.rows[0] ? toVersion(newest.rows[0]) : null;
      if (previous && newest.rows[0].same) return { version: previous, created: false, previous };
      const version = (previous?.version ?? 0) + 1;
      const r = await tx.query(
        `INSERT INTO config_versions (version, doc, applied_by, applied_at, origin)
         VALUES ($1, $2, $3, $4, $5) RETURNING ${HEAD}, doc`,
        [version, JSON.stringify(doc), by.appliedBy, this.clock.now(), by.origin],
      );
      await onApplied?.(tx, version);
      return { version: toVersion(r.rows[0]), created: true, previous };
    });
  }
}

function toHead(r: Record<string, unknown>): ConfigVersionHead {
  return {
    version: r.version as number,
    appliedBy: r.applied_by as string,
    appliedAt: r.applied_at as Date,
    origin: r.origin as ConfigOrigin,
  };
}

function toVersion(r: Record<string, unknown>): ConfigVersion {
  return { ...toHead(r), doc: r.doc };
}
