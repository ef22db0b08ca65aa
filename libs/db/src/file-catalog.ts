import type { FileAttributes } from '@fleet-backup/core';
import type { Queryable } from './pool.ts';
import type { FileRow, NodeRow } from './rows.ts';

/** A file as a snapshot records it (hashed_at is the backup's, set by the hash stage). */
export type SnapshotFile = Omit<FileRow, 'hashedAt'>;

// Everything a version holds but its range and the local re-check time: two snapshots of a path
// with equal columns share one version. NULLs compare equal (IS NOT DISTINCT FROM).
const CONTENT = [
  'stored_path',
  'class',
  'size',
  'sha256',
  'has_wal',
  'stored_sha256',
  'stored_size',
  'key_id',
  'mode',
  'uid',
  'gid',
  'owner',
  'grp',
  'mtime_ns',
  'xattrs',
  'path_bytes',
];
const same = (a: string, b: string) =>
  `${a}.path = ${b}.path AND (${CONTENT.map((c) => `${a}.${c}`).join(', ')}) IS NOT DISTINCT FROM (${CONTENT.map((c) => `${b}.${c}`).join(', ')})`;

/**
 * One statement: the snapshot's list (as arrays) against its series' current versions. Versions
 * the list no longer has unchanged are closed just before the new number; files without an equal
 * current version get a version opening at it. Both parts read the same snapshot of the table, so
 * a version being closed is never the one a new file matches.
 */
const SAVE_SQL = `
WITH n AS (SELECT * FROM snapshot_files), m AS (
  SELECT n.path COLLATE "C" AS path,
         NULLIF(n.stored_path, catalog_default_stored_path(n.path, catalog_class_code(n.class))) AS stored_path,
         catalog_class_code(n.class) AS class, n.size, decode(n.sha256, 'hex') AS sha256, n.has_wal,
         decode(n.stored_sha256, 'hex') AS stored_sha256, n.stored_size, n.key_id, n.mode, n.uid, n.gid,
         n.owner, n.grp, n.mtime_ns, n.xattrs, n.path_bytes
  FROM n
), closed AS (
  UPDATE file_versions v SET last_seq = $2::int - 1
  WHERE v.series_id = $1 AND v.last_seq IS NULL AND NOT EXISTS (SELECT 1 FROM m WHERE ${same('v', 'm')})
  RETURNING 1
)
INSERT INTO file_versions (size, uid, gid, mtime_ns, stored_size, series_id, first_seq, mode, class, has_wal,
                           sha256, path, owner, grp, stored_path, stored_sha256, key_id, xattrs, path_bytes)
SELECT m.size, m.uid, m.gid, m.mtime_ns, m.stored_size, $1, $2, m.mode, m.class, m.has_wal,
       m.sha256, m.path, m.owner, m.grp, m.stored_path, m.stored_sha256, m.key_id, m.xattrs, m.path_bytes
FROM m
WHERE NOT EXISTS (SELECT 1 FROM file_versions v WHERE v.series_id = $1 AND v.last_seq IS NULL AND ${same('v', 'm')})
-- In path order, so the (series, path) index fills its pages instead of splitting them.
ORDER BY m.path`;

const NODE_CONTENT = [
  'type',
  'target',
  'path_bytes',
  'target_bytes',
  'mode',
  'uid',
  'gid',
  'owner',
  'grp',
  'mtime_ns',
  'xattrs',
];
const sameNode = (a: string, b: string) =>
  `${a}.path = ${b}.path AND (${NODE_CONTENT.map((c) => `${a}.${c}`).join(', ')}) IS NOT DISTINCT FROM (${NODE_CONTENT.map((c) => `${b}.${c}`).join(', ')})`;

/** The same for directories and symlinks (node_versions). */
const SAVE_NODES_SQL = `
WITH n AS (SELECT * FROM snapshot_nodes), m AS (
  SELECT n.path COLLATE "C" AS path, CASE n.type WHEN 'dir' THEN 'd' ELSE 'l' END::"char" AS type, n.target,
         n.path_bytes, n.target_bytes, n.mode, n.uid, n.gid, n.owner, n.grp, n.mtime_ns, n.xattrs
  FROM n
), closed AS (
  UPDATE node_versions v SET last_seq = $2::int - 1
  WHERE v.series_id = $1 AND v.last_seq IS NULL AND NOT EXISTS (SELECT 1 FROM m WHERE ${sameNode('v', 'm')})
  RETURNING 1
)
INSERT INTO node_versions (uid, gid, mtime_ns, series_id, first_seq, mode, type, path, target, owner, grp, xattrs,
                           path_bytes, target_bytes)
SELECT m.uid, m.gid, m.mtime_ns, $1, $2, m.mode, m.type, m.path, m.target, m.owner, m.grp, m.xattrs,
       m.path_bytes, m.target_bytes
FROM m
WHERE NOT EXISTS (SELECT 1 FROM node_versions v WHERE v.series_id = $1 AND v.last_seq IS NULL AND ${sameNode('v', 'm')})
ORDER BY m.path`;

/**
 * Records a backup's complete file list (and its directories and symlinks) as versions of its series: the backup takes a fresh
 * sequence number (a first save, a retry or a late save alike), unchanged files write nothing, and
 * versions only its previous number held (a retry) are removed. Call inside the snapshot's
 * transaction, after holdBlobReferences; the series stays locked until commit, so saves of one
 * series commit in the order of their numbers.
 */
export async function saveFileList(
  tx: Queryable,
  backupId: string,
  files: SnapshotFile[],
  nodes: NodeRow[] = [],
): Promise<void> {
  const next = await tx.query<{ series: number; seq: number; old: number | null }>(
    'SELECT o_series AS series, o_seq AS seq, o_old AS old FROM catalog_next_seq($1)',
    [backupId],
  );
  const { series, seq, old } = next.rows[0] as { series: number; seq: number; old: number | null };
  await stage(tx, 'snapshot_files', FILE_COLUMNS, files, (batch) => {
    const attrs = batch.map((f) => f.attrs ?? null);
    return [
      batch.map((f) => f.path),
      batch.map((f) => f.storedPath),
      batch.map((f) => f.cls),
      batch.map((f) => f.size),
      batch.map((f) => f.sha256),
      batch.map((f) => f.hasWal),
      batch.map((f) => f.encrypted?.sha256 ?? null),
      batch.map((f) => f.encrypted?.size ?? null),
      batch.map((f) => f.encrypted?.keyId ?? null),
      batch.map((f) => f.pathBytes ?? null),
      ...attributeColumns(attrs),
    ];
  });
  await stage(tx, 'snapshot_nodes', NODE_COLUMNS, nodes, (batch) => [
    batch.map((n) => n.path),
    batch.map((n) => n.type),
    batch.map((n) => n.target),
    batch.map((n) => n.pathBytes),
    batch.map((n) => n.targetBytes),
    ...attributeColumns(batch.map((n) => n.attrs)),
  ]);
  // The planner would compare by nested loops, quadratic in the number of files; hash joins keep
  // a 100,000-file save linear. Restored right after.
  const was = await tx.query<{ was: string }>(
    "SELECT current_setting('enable_nestloop') AS was, set_config('enable_nestloop', 'off', true)",
  );
  await tx.query(SAVE_SQL, [series, seq]);
  await tx.query(SAVE_NODES_SQL, [series, seq]);
  await tx.query("SELECT set_config('enable_nestloop', $1, true)", [was.rows[0]?.was ?? 'on']);
  if (old !== null) await tx.query('SELECT catalog_sweep($1, $2)', [series, old]);
}

const ATTRIBUTE_COLUMNS =
  'mode int, uid bigint, gid bigint, owner text, grp text, mtime_ns bigint, xattrs jsonb';
const FILE_COLUMNS = `path text, stored_path text, class text, size bigint, sha256 text, has_wal boolean,
  stored_sha256 text, stored_size bigint, key_id text, path_bytes bytea, ${ATTRIBUTE_COLUMNS}`;
const NODE_COLUMNS = `path text, type text, target text, path_bytes bytea, target_bytes bytea, ${ATTRIBUTE_COLUMNS}`;
// Rows per INSERT into the staging table: a snapshot's list goes to Postgres a slice at a time, so
// the parameters a save builds stay a few MB whatever the number of files (one statement holding
// every file as 17 arrays was the agent's memory peak at 20,000 files, and grows without bound).
const STAGE_BATCH = 2_000;

/**
 * Fills a temporary table (dropped at commit) with `rows`, STAGE_BATCH at a time, each batch as
 * the parallel arrays `columns` gives for it, then ANALYZEs it so the save joins by hash.
 */
async function stage<T>(
  tx: Queryable,
  table: string,
  definition: string,
  rows: T[],
  columns: (batch: T[]) => unknown[][],
): Promise<void> {
  await tx.query(`CREATE TEMP TABLE ${table} (${definition}) ON COMMIT DROP`);
  const types = definition.split(',').map((c) => c.trim().split(/\s+/)[1]);
  const unnest = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
  for (let at = 0; at < rows.length; at += STAGE_BATCH) {
    await tx.query(
      `INSERT INTO ${table} SELECT * FROM unnest(${unnest})`,
      columns(rows.slice(at, at + STAGE_BATCH)),
    );
  }
  await tx.query(`ANALYZE ${table}`);
}

/** mode, uid, gid, owner, grp, mtime_ns and xattrs as parallel arrays for unnest (nulls where unknown). */
export function attributeColumns(attrs: (FileAttributes | null)[]): unknown[][] {
  return [
    attrs.map((a) => a?.mode ?? null),
    attrs.map((a) => a?.uid ?? null),
    attrs.map((a) => a?.gid ?? null),
    attrs.map((a) => a?.owner ?? null),
    attrs.map((a) => a?.group ?? null),
    attrs.map((a) => a?.mtimeNs ?? null),
    attrs.map((a) => (a?.xattrs ? JSON.stringify(a.xattrs) : null)),
  ];
}
