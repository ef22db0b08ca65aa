import {
  type BackupKind,
  type BackupRequest,
  type BackupStatus,
  type Compliance,
  type CopyStatus,
  LOCAL_COPY,
  type StageName,
  type StageStatus,
} from '@fleet-backup/core';
import type { Queryable } from './pool.ts';
import { type CopyRow, type StageRow, toBackupHead } from './rows.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The columns of a backup that decide what its pipeline does next; none grows with its files. */
export interface PipelineBackup {
  id: string;
  host: string;
  kind: BackupKind;
  key: string;
  status: BackupStatus;
  lifecycle: string | null;
  targets: string[];
}

/** A backup and its stages: what `advance` and the reconciler plan from. */
export interface PipelineState {
  backup: PipelineBackup;
  stages: StageRow[];
}

/** The seed entry's fields about a pre_change's change, as far as they are set. */
export interface EntryHead {
  status?: string;
  retention?: string;
  verified_by?: string | null;
  verified_date?: string | null;
}

/** A backup's state as `backup --wait` and the API's `/state` show it while polling: no file row is read. */
export interface BackupProgress {
  backup: PipelineBackup & {
    missing: string[];
    compliance: Compliance;
    request: BackupRequest;
    /** The seed entry's fields about the change, without its file map. */
    entry: EntryHead;
  };
  stages: StageRow[];
  copies: CopyRow[];
}

const STAGES_JSON = `COALESCE((SELECT json_agg(s ORDER BY array_position(ARRAY['snapshot','hash','replicate','verify','expire'], s.stage), s.target)
  FROM backup_stages s WHERE s.backup_id = b.id), '[]'::json) AS stages`;
const COPIES_JSON = `COALESCE((SELECT json_agg(c ORDER BY c.target <> $2, c.target)
  FROM backup_copies c WHERE c.backup_id = b.id), '[]'::json) AS copies`;
const CORE = 'b.id, b.host, b.kind, b.key, b.status, b.lifecycle, b.targets';
// Named keys only: the entry may embed every file.
const ENTRY_HEAD = `jsonb_strip_nulls(jsonb_build_object('status', b.entry->'status', 'retention', b.entry->'retention',
  'verified_by', b.entry->'verified_by', 'verified_date', b.entry->'verified_date')) AS entry`;

type Raw = Record<string, unknown>;

/**
 * The backup's pipeline columns and its stages, in one round trip; null when there is no such
 * backup. Cheap whatever the number of files: it is read after every stage and by the reconciler.
 */
export async function pipelineState(q: Queryable, id: string): Promise<PipelineState | null> {
  if (!UUID.test(id)) return null;
  const r = await q.query(`SELECT ${CORE}, ${STAGES_JSON} FROM backups b WHERE b.id = $1`, [id]);
  const row = r.rows[0] as Raw | undefined;
  return row ? { backup: toPipelineBackup(row), stages: (row.stages as Raw[]).map(jsonStage) } : null;
}

/** Status, stages and copies of a backup, in one round trip; what a `--wait` poll reads. */
export async function backupProgress(q: Queryable, id: string): Promise<BackupProgress | null> {
  if (!UUID.test(id)) return null;
  const r = await q.query(
    `SELECT ${CORE}, b.missing, b.compliance, b.request, ${ENTRY_HEAD}, ${STAGES_JSON}, ${COPIES_JSON}
     FROM backups b WHERE b.id = $1`,
    [id, LOCAL_COPY],
  );
  const row = r.rows[0] as Raw | undefined;
  if (!row) return null;
  return {
    backup: {
      ...toPipelineBackup(row),
      missing: (row.missing as string[] | null) ?? [],
      compliance: row.compliance as Compliance,
      request: row.request as BackupRequest,
      entry: row.entry as EntryHead,
    },
    stages: (row.stages as Raw[]).map(jsonStage),
    copies: (row.copies as Raw[]).map(jsonCopy),
  };
}

/**
 * How many files a backup recorded and their bytes: one aggregate, read once by a `--wait` that
 * shows them, not on every poll.
 */
export async function fileTotals(q: Queryable, id: string): Promise<{ files: number; bytes: number }> {
  const r = await q.query<{ files: string; bytes: string | null }>(
    'SELECT count(*) AS files, sum(size) AS bytes FROM backup_files WHERE backup_id = $1',
    [id],
  );
  const row = r.rows[0];
  return { files: Number(row?.files ?? 0), bytes: Number(row?.bytes ?? 0) };
}

function toPipelineBackup(r: Raw): PipelineBackup {
  return {
    ...toBackupHead(r),
    lifecycle: (r.lifecycle as string | null) ?? null,
    targets: r.targets as string[],
  };
}

// json_agg hands timestamps over as ISO strings.
const date = (v: unknown): Date | null => (typeof v === 'string' ? new Date(v) : null);

function jsonStage(r: Raw): StageRow {
  return {
    stage: r.stage as StageName,
    target: r.target as string,
    status: r.status as StageStatus,
    attempts: r.attempts as number,
    startedAt: date(r.started_at),
    finishedAt: date(r.finished_at),
    error: (r.error as string | null) ?? null,
  };
}

function jsonCopy(r: Raw): CopyRow {
  return {
    target: r.target as string,
    kind: r.kind as string,
    offsite: r.offsite as boolean,
    encryption: (r.encryption as string | null) ?? null,
    status: r.status as CopyStatus,
    detail: (r.detail as Record<string, unknown>) ?? {},
    verifiedAt: date(r.verified_at),
  };
}
