import { type HostStorage, type Pool, reportQueries, SQL_KEPT, type TargetStorage } from '@fleet-backup/db';

/** What the producer's fleet series show, read from Postgres in one go at scrape time. */
export interface FleetSnapshot {
  backups: { kind: string; status: string; n: number }[];
  not321: { kind: string; n: number }[];
  copies: { target: string; status: string; n: number }[];
  stagesFailed: { stage: string; n: number }[];
  /** Seconds; 0 when there is none. */
  oldestNot321Age: number;
  oldestUnverifiedAge: number;
  oldestPendingChangeAge: number;
  pendingChanges: number;
  expiringSoon: number;
  hosts: { host: string; registered: Date; lastVerifiedDaily: Date | null }[];
  targets: TargetStorage[];
  localStorage: HostStorage[];
  drills: { host: string; ok: boolean; finished: Date }[];
  /** Kept backups of the last 24 hours flagged by their snapshot, per host. */
  flagged: { host: string; massChange: number; sharpDrop: number }[];
  /** Kept backups whose copy on an offsite target is stored plain (`encryption: none`), per target. */
  unencrypted: { target: string; n: number }[];
}

const NOT_321 = `NOT COALESCE((b.compliance->>'ok')::boolean, false)`;
const EXPIRING_DAYS = 7;

/**
 * Reads the fleet's state: a handful of aggregate queries over indexed columns, run side by
 * side. `now` comes from the runtime's clock, so ages follow simulated time in tests.
 */
export async function readFleetSnapshot(pool: Pool, now: Date): Promise<FleetSnapshot> {
  const [
    backups,
    not321,
    copies,
    stagesFailed,
    ages,
    hosts,
    targets,
    localStorage,
    drills,
    flagged,
    unencrypted,
  ] = await Promise.all([
    rows<{ kind: string; status: string; n: number }>(
      pool,
      `SELECT kind, status, count(*)::int AS n FROM backups b WHERE ${SQL_KEPT} GROUP BY kind, status`,
    ),
    rows<{ kind: string; n: number }>(
      pool,
      `SELECT kind, count(*)::int AS n FROM backups b
       WHERE ${SQL_KEPT} AND b.status <> 'running' AND ${NOT_321} GROUP BY kind`,
    ),
    rows<{ target: string; status: string; n: number }>(
      pool,
      `SELECT c.target, c.status, count(*)::int AS n FROM backup_copies c JOIN backups b ON b.id = c.backup_id
       WHERE ${SQL_KEPT} GROUP BY c.target, c.status`,
    ),
    rows<{ stage: string; n: number }>(
      pool,
      `SELECT s.stage, count(DISTINCT s.backup_id)::int AS n FROM backup_stages s JOIN backups b ON b.id = s.backup_id
       WHERE ${SQL_KEPT} AND s.status = 'failed' GROUP BY s.stage`,
    ),
    rows<Record<'not321' | 'unverified' | 'pending' | 'pendingCount' | 'expiring', Date | number | null>>(
      pool,
      `SELECT min(b.created_at) FILTER (WHERE ${NOT_321}) AS not321,
              min(b.created_at) FILTER (WHERE b.status <> 'verified') AS unverified,
              min(b.created_at) FILTER (WHERE b.kind = 'pre_change' AND b.change_verified_at IS NULL) AS pending,
              count(*) FILTER (WHERE b.kind = 'pre_change' AND b.change_verified_at IS NULL)::int AS "pendingCount",
              count(*) FILTER (WHERE b.expires_at > $1 AND b.expires_at <= $1::timestamptz + interval '${EXPIRING_DAYS} days')::int AS expiring
       FROM backups b WHERE ${SQL_KEPT}`,
      [now],
    ),
    rows<{ host: string; registered: Date; lastVerifiedDaily: Date | null }>(
      pool,
      `SELECT h.id AS host, h.first_seen AS registered,
              (SELECT max(b.created_at) FROM backups b
               WHERE b.host = h.id AND b.kind = 'daily' AND b.status = 'verified') AS "lastVerifiedDaily"
       FROM hosts h WHERE h.deregistered_at IS NULL`,
    ),
    reportQueries.targetStorage(pool),
    reportQueries.hostStorage(pool),
    latestDrills(pool),
    rows<{ host: string; massChange: number; sharpDrop: number }>(
      pool,
      `SELECT b.host, count(*) FILTER (WHERE b.mass_change IS NOT NULL)::int AS "massChange",
              count(*) FILTER (WHERE b.sharp_drop IS NOT NULL)::int AS "sharpDrop"
       FROM backups b WHERE ${SQL_KEPT} AND b.created_at > $1::timestamptz - interval '24 hours'
         AND (b.mass_change IS NOT NULL OR b.sharp_drop IS NOT NULL)
       GROUP BY b.host`,
      [now],
    ),
    rows<{ target: string; n: number }>(
      pool,
      `SELECT c.target, count(*)::int AS n FROM backup_copies c JOIN backups b ON b.id = c.backup_id
       WHERE ${SQL_KEPT} AND c.offsite AND c.encryption = 'none' GROUP BY c.target`,
    ),
  ]);
  const age = (at: Date | number | null | undefined) =>
    at instanceof Date ? Math.max(0, (now.getTime() - at.getTime()) / 1000) : 0;
  const a = ages[0];
  return {
    backups,
    not321,
    copies,
    stagesFailed,
    oldestNot321Age: age(a?.not321),
    oldestUnverifiedAge: age(a?.unverified),
    oldestPendingChangeAge: age(a?.pending),
    pendingChanges: Number(a?.pendingCount ?? 0),
    expiringSoon: Number(a?.expiring ?? 0),
    hosts,
    targets,
    localStorage,
    drills,
    flagged,
    unencrypted,
  };
}

/** The newest finished drill of each host. */
async function latestDrills(pool: Pool): Promise<FleetSnapshot['drills']> {
  return rows(
    pool,
    `SELECT DISTINCT ON (host) host, ok, finished_at AS finished FROM drill_runs
     WHERE finished_at IS NOT NULL AND ok IS NOT NULL ORDER BY host, finished_at DESC`,
  );
}

async function rows<T>(pool: Pool, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool.query(sql, params)).rows as T[];
}
