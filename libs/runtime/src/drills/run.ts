import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type BackupKind,
  BadInputError,
  COPIED_PLAIN_NOTE,
  DecryptionFailure,
  isGeneratedItem,
  metadataPath,
  NotFoundFailure,
} from '@fleet-backup/core';
import { type BackupDetail, type DrillRun, DrillStore, type DrillTrigger } from '@fleet-backup/db';
import { jobCatalog } from '@fleet-backup/queue';
import { CorruptObjectError, IntegrityError, NotFoundError } from '@fleet-backup/storage';
import { resolveBackup } from '../resolve-backup.ts';
import { type CopySource, RestoreMismatch, type RestoreResult, restoreFiles } from '../restore.ts';
import { catalogTargetSource } from '../restore-sources.ts';
import type { Runtime } from '../runtime.ts';
import { checkLocalCopyToo, markCopyCorrupt } from './bad-copy.ts';
import { chooseDrillCopy, DrillFailure, restoreFailureReason } from './choose.ts';
import { isSqliteFile, sqliteIntegrityProblem } from './sqlite-check.ts';

export interface DrillRequest {
  host: string;
  /** A backup id or key of the host; default: its newest verified backup of `kind`. */
  backup?: string;
  /**
   * Which kind of backup to take when none is named: default `daily`, the backup the fleet
   * relies on every day, not whatever was taken last (a tiny manual or pre-change backup).
   */
  kind?: BackupKind;
  /** The copy to restore from (a target name or kind); default: config `drillFrom`, else offsite. */
  from?: string;
  trigger: DrillTrigger;
  signal?: AbortSignal;
  onProgress?: (event: DrillProgress) => void;
}

export type DrillProgress =
  | { step: 'chosen'; backupKey: string; copy: string; files: number; bytes: number }
  | { step: 'restoring'; file: string; index: number; files: number }
  | { step: 'checking'; databases: number }
  | { step: 'finished'; ok: boolean; reason: string | null };

export interface DrillReport {
  run: DrillRun;
  /** SQLite databases that passed `integrity_check`. */
  databases: number;
  /** Files with a SQLite header that the backup noted SQLite could not read at capture: not checked. */
  uncheckedDatabases: string[];
}

/**
 * Runs one restore drill and records it: restores every file of a backup from exactly one copy
 * (no fallback: the drill tests that copy) into a scratch directory, with every sha256 checked as
 * the bytes stream in, then runs `integrity_check` on every SQLite database restored. The scratch
 * directory is deleted whatever happens. A failed drill is returned with its reason, not thrown;
 * only an unknown host or backup (NotFoundFailure) or a `from` naming no configured target
 * (BadInputError) is thrown, before anything is recorded.
 */
export async function runDrill(rt: Runtime, req: DrillRequest): Promise<DrillReport> {
  const host = await rt.hosts.get(req.host);
  if (!host) throw new NotFoundFailure(`unknown host ${req.host}`, { host: req.host });
  if (req.from) assertConfiguredCopy(rt, req.from);
  const named = req.backup ? await namedBackup(rt, req.host, req.backup) : null;
  const store = new DrillStore(rt.pool);
  const id = randomUUID();
  const startedAt = rt.clock.now();
  // Elapsed time is measured, not domain time: a simulated clock must not make drills take 0 ms.
  const t0 = performance.now();
  await store.start(
    { id, host: req.host, trigger: req.trigger, startedAt },
    new Date(startedAt.getTime() - jobCatalog.drill.timeoutMs),
  );
  const scratch = path.join(rt.config.drillScratchDir, id);
  const found: Findings = { restored: null, databases: 0, unchecked: [] };
  let reason: string | null = null;
  try {
    await restoreAndCheck(rt, req, { id, store, scratch, named }, found);
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
    const backupId = (await store.get(id))?.backupId;
    if (err instanceof DrillFailure && err.badCopy && backupId)
      await markCopyCorrupt(rt, { backupId, ...err.badCopy, problem: reason, drillId: id });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await store.finish(id, {
    ok: reason === null,
    reason,
    finishedAt: rt.clock.now(),
    durationMs: performance.now() - t0,
    files: found.restored?.files.length ?? 0,
    bytes: found.restored?.bytes ?? 0,
  });
  req.onProgress?.({ step: 'finished', ok: reason === null, reason });
  const run = await store.get(id);
  if (!run) throw new Error(`drill ${id} was recorded but cannot be read back`);
  if (run.backupId) await checkLocalCopyToo(rt, req.host, run.backupId);
  const fields = { drill: id, host: req.host, backup: run.backupKey, copy: run.target, reason };
  if (reason) rt.log.warn(fields, 'restore drill failed');
  else rt.log.info(fields, 'restore drill passed');
  return { run, databases: found.databases, uncheckedDatabases: found.unchecked };
}

/** What a drill established before it ended (a failed database check keeps the restore's counts). */
interface Findings {
  restored: RestoreResult | null;
  databases: number;
  unchecked: string[];
}

/** Chooses the backup and the copy, restores into the scratch directory and checks the databases. */
async function restoreAndCheck(
  rt: Runtime,
  req: DrillRequest,
  drill: { id: string; store: DrillStore; scratch: string; named: BackupDetail | null },
  found: Findings,
): Promise<void> {
  const detail = drill.named ?? (await newestVerified(rt, req.host, req.kind ?? 'daily'));
  const copy = chooseDrillCopy(detail.backup.key, detail.copies, req.from ?? rt.config.drillFrom);
  await drill.store.chose(drill.id, {
    backupId: detail.backup.id,
    backupKey: detail.backup.key,
    target: copy.target,
  });
  req.onProgress?.({
    step: 'chosen',
    backupKey: detail.backup.key,
    copy: copy.target,
    files: detail.files.length,
    bytes: detail.files.reduce((n, f) => n + f.size, 0),
  });
  await mkdir(drill.scratch, { recursive: true, mode: 0o700 });
  found.restored = await restoreFromOneCopy(rt, detail, copy.target, drill.scratch, req);
  const checked = await checkDatabases(drill.scratch, detail, found.restored, copy.target, req);
  found.databases = checked.databases;
  found.unchecked = checked.unchecked;
}

async function restoreFromOneCopy(
  rt: Runtime,
  detail: BackupDetail,
  copy: string,
  scratch: string,
  req: DrillRequest,
): Promise<RestoreResult> {
  const target = await catalogTargetSource(rt, detail, copy);
  let index = 0;
  const source: CopySource = {
    name: target.name,
    open: (file) => {
      req.signal?.throwIfAborted();
      req.onProgress?.({ step: 'restoring', file: file.path, index: ++index, files: detail.files.length });
      return target.open(file);
    },
  };
  let failure: DrillFailure | null = null;
  try {
    return await restoreFiles(detail.files, [source], {
      to: scratch,
      force: false,
      // A drill proves the bytes: modes and owners of the scratch copy prove nothing, and could
      // lock the pool worker out of its own scratch directory.
      attributes: false,
      // Generated items are checked (they decrypt, their hashes match) but never written out:
      // the secrets one would land in the clear.
      checkOnly: (file) => isGeneratedItem(file.path),
      where: `backup ${detail.backup.host}/${detail.backup.key}`,
      // Sensitive files are stored encrypted: a drill proves they decrypt with the configured keys.
      keyring: rt.config.encryption,
      parallel: rt.config.targetParallelRequests,
      onFallback: (file, from, error) => {
        // Files are read in parallel: the first that failed is the one reported.
        failure ??= new DrillFailure(
          restoreFailureReason(file.path, from, error.message),
          servedBadBytes(error) ? { target: from, path: file.path } : null,
        );
      },
    });
  } catch (err) {
    // restoreFiles names every copy it tried; with one copy, the file and that copy say it all.
    throw failure ?? err;
  }
}

/**
 * Whether a restore error shows the copy's own bytes are bad (missing, not matching their hash,
 * failing their GCM tag), as opposed to the copy being unreachable for now, which proves nothing.
 */
function servedBadBytes(error: Error): boolean {
  return (
    error instanceof IntegrityError ||
    // The server's own checksum of the object (GCS MD5, S3 checksums) failed on read.
    error instanceof CorruptObjectError ||
    error instanceof NotFoundError ||
    error instanceof DecryptionFailure ||
    error instanceof RestoreMismatch
  );
}

/**
 * Runs integrity_check on every restored file that is a SQLite database; throws on the first bad
 * one. A file the backup already noted as unreadable by SQLite was stored byte for byte as a plain
 * file: it restores as faithfully as any other, and failing every drill over it would bury real
 * findings, so it is listed rather than checked.
 */
async function checkDatabases(
  scratch: string,
  detail: BackupDetail,
  restored: RestoreResult,
  copy: string,
  req: DrillRequest,
): Promise<{ databases: number; unchecked: string[] }> {
  const notedPlain = new Set(
    detail.backup.skipped
      .filter((s) => s.reason.startsWith(COPIED_PLAIN_NOTE))
      .map((s) => metadataPath(s.path)),
  );
  const databases: string[] = [];
  const unchecked: string[] = [];
  for (const f of restored.files) {
    if (!f.written) continue;
    if (!(await isSqliteFile(path.join(scratch, f.path)))) continue;
    (notedPlain.has(f.path) ? unchecked : databases).push(f.path);
  }
  req.onProgress?.({ step: 'checking', databases: databases.length });
  for (const file of databases) {
    const problem = await sqliteIntegrityProblem(path.join(scratch, file), req.signal);
    if (problem) throw new DrillFailure(`${file} from copy ${copy}: ${problem}`);
  }
  return { databases: databases.length, unchecked };
}

async function newestVerified(rt: Runtime, host: string, kind: BackupKind): Promise<BackupDetail> {
  const id = await new DrillStore(rt.pool).newestVerifiedBackup(host, kind);
  if (!id) {
    throw new DrillFailure(
      `host ${host} has no verified ${kind} backup to drill (a drill takes the newest verified ${kind}); ` +
        'name one with --backup ID, or another kind with --kind',
    );
  }
  return rt.backups.detail(id);
}

/** The backup named by id or key, which must be the host's. */
async function namedBackup(rt: Runtime, host: string, idOrKey: string): Promise<BackupDetail> {
  return rt.backups.detail(await resolveBackup(rt, idOrKey, host));
}

/** A copy asked for by name must be a configured target or kind: a typo is not a failed drill. */
function assertConfiguredCopy(rt: Runtime, from: string): void {
  const refs = rt.targets.refs();
  if (refs.some((t) => t.name === from || t.kind === from)) return;
  throw new BadInputError(
    `no target or target kind "${from}" is configured (targets: ${refs.map((t) => `${t.name} (${t.kind})`).join(', ') || 'none'})`,
  );
}
