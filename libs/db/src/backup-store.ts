import { randomUUID } from 'node:crypto';
import {
  type BackupRequest,
  BadInputError,
  backupKey,
  buildEntry,
  type Clock,
  compliance321,
  deriveStatus,
  isKept,
  LOCAL_COPY,
  type MassChange,
  type MetadataEntry,
  NotFoundFailure,
  type SharpDrop,
  type StageName,
} from '@fleet-backup/core';
import { holdBlobReferences } from './blob-refs.ts';
import { type SnapshotFile, saveFileList } from './file-catalog.ts';
import { type Pool, type Queryable, withTransaction } from './pool.ts';
import {
  type BackupDetail,
  type BackupRow,
  type FileRow,
  type NodeRow,
  type SkippedItem,
  type StageRow,
  type StoredFile,
  toBackup,
  toCopy,
  toFile,
  toNode,
  toStage,
  toStoredFile,
} from './rows.ts';

const STAGES_SQL =
  "SELECT * FROM backup_stages WHERE backup_id = $1 ORDER BY array_position(ARRAY['snapshot','hash','replicate','verify','expire'], stage), target";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TargetRef {
  name: string;
  kind: string;
  offsite: boolean;
  /** 'aes-256-gcm' when the target seals its objects; 'none' (the default) when not. */
  encryption?: string;
}

export interface NewBackup {
  /** An id the caller chose (pre-change intake): asking again with it returns the same backup. */
  id?: string;
  request: BackupRequest;
  targets: TargetRef[];
  dailyRetentionDays: number;
  /** The configuration version the targets came from (null: a process not reading the catalog). */
  configVersion?: number | null;
}

/** Backups, their stages, files and copies. Every change rewrites the JSONB mirror in the same transaction. */
export class BackupStore {
  readonly pool: Pool;
  private readonly clock: Clock;

  constructor(pool: Pool, clock: Clock) {
    this.pool = pool;
    this.clock = clock;
  }

  /** Runs fn in one transaction. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, fn);
  }

  /**
   * Creates a backup with its stage and copy rows. A daily is idempotent on (host, day): asking
   * again returns the existing one. Event backups in the same minute get `-2`, `-3`… suffixes.
   */
  async create(input: NewBackup): Promise<{ backup: BackupRow; created: boolean }> {
    return this.transaction(async (tx) => {
      const { request } = input;
      if (input.id) {
        // Requests reusing one id wait for each other here, so a retry finds the first one's backup.
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [input.id]);
        const same = await this.get(input.id, tx);
        if (same && (same.host !== request.host || same.kind !== request.kind)) {
          throw new BadInputError(
            `backup id ${input.id} is already taken by another backup; choose a new id`,
          );
        }
        if (same) return { backup: same, created: false };
      }
      const now = this.clock.now();
      const host = await tx.query('SELECT 1 FROM hosts WHERE id = $1', [request.host]);
      if (host.rowCount === 0) {
        throw new NotFoundFailure(
          `unknown host ${request.host}: start an agent with --host ${request.host} or list it under hosts in the config`,
          { host: request.host },
        );
      }
      const base = backupKey(request.kind, now, request.description ?? request.ticket);
      const expires =
        request.kind === 'daily' ? new Date(now.getTime() + input.dailyRetentionDays * 86_400_000) : null;
      const id = input.id ?? randomUUID();
      for (let n = 1; ; n++) {
        const key = n === 1 ? base : `${base}-${n}`;
        const inserted = await tx.query(
          `INSERT INTO backups (id, host, kind, key, status, created_at, expires_at, request, targets, entry, updated_at,
                                config_version)
           VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, '{}'::jsonb, $5, $9)
           ON CONFLICT (host, key) DO NOTHING RETURNING id`,
          [
            id,
            request.host,
            request.kind,
            key,
            now,
            expires,
            JSON.stringify(request),
            input.targets.map((t) => t.name),
            input.configVersion ?? null,
          ],
        );
        if (inserted.rowCount === 1) break;
        if (request.kind === 'daily') {
          const existing = await tx.query('SELECT * FROM backups WHERE host = $1 AND key = $2', [
            request.host,
            key,
          ]);
          return { backup: toBackup(existing.rows[0]), created: false };
        }
      }
      await insertChildren(tx, id, input.targets);
      return { backup: await this.refresh(id, tx), created: true };
    });
  }

  async get(id: string, q: Queryable = this.pool): Promise<BackupRow | null> {
    if (!UUID.test(id)) return null;
    const r = await q.query('SELECT * FROM backups WHERE id = $1', [id]);
    return r.rows[0] ? toBackup(r.rows[0]) : null;
  }

  /** The backup or a NotFoundFailure naming it. */
  async require(id: string, q: Queryable = this.pool): Promise<BackupRow> {
    const b = await this.get(id, q);
    if (!b) throw new NotFoundFailure(`backup ${id} does not exist`, { backupId: id });
    return b;
  }

  async detail(id: string, q: Queryable = this.pool): Promise<BackupDetail> {
    const backup = await this.require(id, q);
    // One after another: q may be a single transaction client, which runs one query at a time.
    const stages = await q.query(STAGES_SQL, [id]);
    const files = await q.query('SELECT * FROM backup_files WHERE backup_id = $1 ORDER BY path', [id]);
    const nodes = await q.query('SELECT * FROM backup_nodes WHERE backup_id = $1 ORDER BY path', [id]);
    const copies = await q.query(
      'SELECT * FROM backup_copies WHERE backup_id = $1 ORDER BY target <> $2, target',
      [id, LOCAL_COPY],
    );
    const fileRows = files.rows.map(toFile);
    return {
      // The stored entry leaves the files out; the seed's file map is built here, from the catalog.
      backup: { ...backup, entry: { ...backup.entry, files: seedEntry(backup, fileRows, false).files } },
      stages: stages.rows.map(toStage),
      files: fileRows,
      nodes: nodes.rows.map(toNode),
      copies: copies.rows.map(toCopy),
    };
  }

  /**
   * A backup's files with only what a re-read of its stored copies needs: where each is and what
   * it must hash to. The hash stage of a 20,000-file backup read them through detail(), which also
   * parses every attribute and builds the seed's file map, for about 0.3 s it never used.
   */
  async storedFiles(id: string, q: Queryable = this.pool): Promise<StoredFile[]> {
    const r = await q.query(
      `SELECT path, stored_path, size, sha256, stored_sha256, stored_size, key_id
       FROM backup_files WHERE backup_id = $1 ORDER BY path`,
      [id],
    );
    return r.rows.map(toStoredFile);
  }

  async list(filter: { host?: string; limit?: number } = {}): Promise<BackupRow[]> {
    const r = await this.pool.query(
      'SELECT * FROM backups WHERE ($1::text IS NULL OR host = $1) ORDER BY created_at DESC, key DESC LIMIT $2',
      [filter.host ?? null, filter.limit ?? 100],
    );
    return r.rows.map(toBackup);
  }

  /**
   * Marks a stage running and counts the attempt. Returns 'done' without change when an earlier
   * delivery already finished it, which is how a redelivered job becomes a no-op, and 'ended'
   * when the backup is expiring, retiring or gone.
   */
  async startStage(id: string, stage: StageName, target = ''): Promise<'started' | 'done' | 'ended'> {
    return this.transaction(async (tx) => {
      // A backup marked to expire or retire is losing its copies: no stage may write one again.
      if (!isKept((await this.lock(id, tx)).lifecycle)) return 'ended';
      const r = await tx.query(
        `UPDATE backup_stages SET status = 'running', attempts = attempts + 1, started_at = $4, error = NULL
         WHERE backup_id = $1 AND stage = $2 AND target = $3 AND status <> 'done' RETURNING 1`,
        [id, stage, target, this.clock.now()],
      );
      if (r.rowCount === 0) {
        const s = await this.stage(id, stage, target, tx);
        if (!s)
          throw new NotFoundFailure(
            `backup ${id} has no ${stage} stage${target ? ` for target ${target}` : ''}`,
          );
        return 'done';
      }
      await this.refresh(id, tx);
      return 'started';
    });
  }

  async stage(id: string, stage: StageName, target = '', q: Queryable = this.pool): Promise<StageRow | null> {
    const r = await q.query(
      'SELECT * FROM backup_stages WHERE backup_id = $1 AND stage = $2 AND target = $3',
      [id, stage, target],
    );
    return r.rows[0] ? toStage(r.rows[0]) : null;
  }

  /** Marks a stage done inside tx (with whatever else the stage writes) and refreshes the backup. */
  async finishStage(tx: Queryable, id: string, stage: StageName, target = ''): Promise<BackupRow> {
    await tx.query(
      `UPDATE backup_stages SET status = 'done', finished_at = $4, error = NULL
       WHERE backup_id = $1 AND stage = $2 AND target = $3`,
      [id, stage, target, this.clock.now()],
    );
    return this.refresh(id, tx);
  }

  /** Records a stage's error; `final` when no attempt is left, which fails the backup until retried. */
  async failStage(
    id: string,
    stage: StageName,
    target: string,
    error: string,
    final: boolean,
  ): Promise<void> {
    await this.transaction(async (tx) => {
      await this.lock(id, tx);
      await tx.query(
        `UPDATE backup_stages SET status = CASE WHEN $5 THEN 'failed' ELSE status END, error = $4, finished_at = $6
         WHERE backup_id = $1 AND stage = $2 AND target = $3 AND status <> 'done'`,
        [id, stage, target, error.slice(0, 4000), final, this.clock.now()],
      );
      await this.refresh(id, tx);
    });
  }

  /**
   * Replaces the backup's file list, directories and symlinks (and what it skipped) with a
   * snapshot's result. The file list goes in bulk as versions of the backup's series (file-catalog.ts).
   */
  async saveSnapshot(
    tx: Queryable,
    id: string,
    files: SnapshotFile[],
    skipped: SkippedItem[],
    nodes: NodeRow[] = [],
  ): Promise<void> {
    await holdBlobReferences(tx);
    await tx.query('UPDATE backups SET skipped = $2 WHERE id = $1', [id, JSON.stringify(skipped)]);
    await saveFileList(tx, id, files, nodes);
  }

  /** Records what the snapshot's completeness check found (libs/core/src/completeness.ts), in its transaction. */
  async saveCompleteness(
    tx: Queryable,
    id: string,
    found: { missing: string[]; sharpDrop: SharpDrop | null; massChange: MassChange | null },
  ): Promise<void> {
    await tx.query('UPDATE backups SET missing = $2, sharp_drop = $3, mass_change = $4 WHERE id = $1', [
      id,
      JSON.stringify(found.missing),
      found.sharpDrop && JSON.stringify(found.sharpDrop),
      found.massChange && JSON.stringify(found.massChange),
    ]);
  }

  /** The hash stage vouched for the backup's local copy (every file's hashed_at in the view). */
  async markHashed(tx: Queryable, id: string): Promise<void> {
    await tx.query('UPDATE backups SET hashed_at = $2 WHERE id = $1', [id, this.clock.now()]);
  }

  async setCopy(
    tx: Queryable,
    id: string,
    target: string,
    status: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await tx.query(
      `UPDATE backup_copies SET status = $3, detail = $4,
         verified_at = CASE WHEN $3 = 'verified' THEN $5::timestamptz ELSE verified_at END
       WHERE backup_id = $1 AND target = $2`,
      [id, target, status, JSON.stringify(detail), this.clock.now()],
    );
  }

  /** Takes the backup's row lock: every writer locks the backup first, so concurrent stages serialise. */
  async lock(id: string, tx: Queryable): Promise<BackupRow> {
    const r = await tx.query('SELECT * FROM backups WHERE id = $1 FOR UPDATE', [id]);
    if (!r.rows[0]) throw new NotFoundFailure(`backup ${id} does not exist`, { backupId: id });
    return toBackup(r.rows[0]);
  }

  /**
   * Recomputes status and the seed-format entry from the stage and copy rows, in tx. The stored
   * entry leaves the files out (they are the catalog's), so this reads no file row.
   */
  async refresh(id: string, tx: Queryable): Promise<BackupRow> {
    const backup = await this.require(id, tx);
    const stages = (await tx.query(STAGES_SQL, [id])).rows.map(toStage);
    const copies = (
      await tx.query('SELECT * FROM backup_copies WHERE backup_id = $1 ORDER BY target <> $2, target', [
        id,
        LOCAL_COPY,
      ])
    ).rows.map(toCopy);
    const status = deriveStatus(stages, copies, backup.missing);
    const { files: _files, ...entry } = seedEntry(backup, [], status === 'verified');
    const copyStates = copies.map((c) => ({
      ...c,
      error: stages.find((s) => s.target === c.target && s.error && s.status !== 'done')?.error ?? null,
    }));
    const updated = await tx.query(
      'UPDATE backups SET status = $2, entry = $3, compliance = $4, updated_at = $5 WHERE id = $1 RETURNING *',
      [id, status, JSON.stringify(entry), JSON.stringify(compliance321(copyStates)), this.clock.now()],
    );
    return toBackup(updated.rows[0]);
  }
}

/** The backup's entry in the seed's backup_metadata.json format. */
export function seedEntry(backup: BackupRow, files: FileRow[], verified: boolean): MetadataEntry {
  const r = backup.request;
  return buildEntry({
    kind: backup.kind,
    created: backup.createdAt,
    expires: backup.expiresAt,
    description: r.description ?? null,
    purpose: r.purpose ?? null,
    creator: r.creator ?? null,
    ticket: r.ticket ?? null,
    retention: r.retention ?? null,
    notes: r.notes ?? null,
    verified,
    lifecycle: backup.lifecycle,
    changeVerifiedBy: backup.changeVerifiedBy,
    changeVerifiedAt: backup.changeVerifiedAt,
    files,
  });
}

async function insertChildren(tx: Queryable, id: string, targets: TargetRef[]): Promise<void> {
  const names = targets.map((t) => t.name);
  await tx.query(
    `INSERT INTO backup_stages (backup_id, stage, target, status)
     SELECT $1::uuid, s.stage, s.target, 'pending' FROM (
       VALUES ('snapshot', ''), ('hash', '')) AS s(stage, target)
     UNION ALL SELECT $1::uuid, st, t, 'pending' FROM unnest(ARRAY['replicate', 'verify']) st, unnest($2::text[]) t`,
    [id, names],
  );
  await tx.query(
    `INSERT INTO backup_copies (backup_id, target, kind, offsite, encryption, status)
     SELECT $1::uuid, $2, 'local', false, 'none', 'pending'
     UNION ALL SELECT $1::uuid, *, 'pending' FROM unnest($3::text[], $4::text[], $5::boolean[], $6::text[])`,
    [
      id,
      LOCAL_COPY,
      names,
      targets.map((t) => t.kind),
      targets.map((t) => t.offsite),
      targets.map((t) => t.encryption ?? 'none'),
    ],
  );
}
