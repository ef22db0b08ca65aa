import { isUtf8 } from 'node:buffer';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  allowedRoots,
  type FoundFile,
  loadOwnerNames,
  type OwnerNames,
  resolveScope,
  type SkippedItem,
  TreeReader,
  walk,
  walkRoots,
} from '@fleet-backup/capture';
import type { Keyring, TreeNode } from '@fleet-backup/core';
import { type BackupRow, previousFiles, previousVerifiedBackup } from '@fleet-backup/db';
import type { JobContext } from '@fleet-backup/queue';
import { type AgentEnv, backupDir } from '../agent-env.ts';
import { DirMaker } from '../fs/atomic-copy.ts';
import { makeDurable } from '../fs/durable.ts';
import { pruneBackupDir } from '../fs/prune.ts';
import type { CopyContext, SnapshotRow } from '../stages/snapshot-row.ts';
import { type Copied, copyAll } from './copy-all.ts';
import type { PreviousCopy } from './link-unchanged.ts';
import { readSourceIndex, writeSourceIndex } from './source-index.ts';
import { captureSystemState } from './system-state.ts';

/** What one snapshot took: file rows, directory and symlink nodes, and what it skipped (with notes). */
export interface Taken {
  files: SnapshotRow[];
  nodes: TreeNode[];
  skipped: SkippedItem[];
}

/** Walks the requested paths and copies every file taken into the backup directory. */
export async function takeSnapshot(
  env: AgentEnv,
  backup: BackupRow,
  ctx: Pick<JobContext, 'signal' | 'log'>,
): Promise<Taken> {
  const dir = backupDir(env, backup);
  const names = await loadOwnerNames();
  const limits = {
    backupRoot: env.backupRoot,
    allowedRoots: allowedRoots(env.hostConfig),
    ...(backup.request.scope && { scope: await resolveScope(backup.request.scope) }),
  };
  // How long each step took, in the log line below: where a slow snapshot spends its time.
  const ms = stepTimer();
  const found = await walk(walkRoots(backup.request.paths, env.hostConfig), limits, names);
  const walked = ms();
  const skipped = [...found.skipped];
  // environment.config / dependencies.config, when this backup takes the host's sources.
  const generated = await captureSystemState(env, backup, found.files, ctx);
  const previous = await previousCopy(env, backup);
  const prepared = ms();
  let captured: Captured;
  try {
    captured = await captureFiles([...found.files, ...generated.files], dir, {
      signal: ctx.signal,
      log: ctx.log,
      keyring: env.rt.config.encryption,
      names,
      notes: skipped,
      previous,
    });
  } finally {
    await generated.remove();
  }
  ctx.log.info(
    {
      files: captured.files.length,
      linked: captured.linked,
      copied: captured.files.length - captured.linked,
      linkedFrom: previous ? path.basename(previous.dir) : null,
      ms: { walk: walked, prepare: prepared, capture: ms() },
    },
    'snapshot captured: unchanged files linked from the previous backup, the others copied',
  );
  if (previous?.altered.length) await reportAltered(env, previous, ctx.log);
  warnXattrsUnread(found.files, ctx.log);
  return { files: captured.files, nodes: found.nodes, skipped };
}

/** Milliseconds since the timer was made or last read, rounded. */
function stepTimer(): () => number {
  let since = performance.now();
  return () => {
    const now = performance.now();
    const took = Math.round(now - since);
    since = now;
    return took;
  };
}

export interface CaptureOptions {
  signal: AbortSignal;
  log: JobContext['log'];
  keyring: Keyring;
  names: OwnerNames;
  /** Skipped files and notes on stored ones: appended to. */
  notes: SkippedItem[];
  /** The series' previous verified backup, to link unchanged files from; null: copy everything. */
  previous: PreviousCopy | null;
}

export interface Captured {
  /** In the order the files were found. */
  files: SnapshotRow[];
  /** How many of them were hardlinked from the previous backup rather than read. */
  linked: number;
}

/**
 * The series' previous verified backup with its source index and rows, or null when there is
 * none or its index is missing or unreadable (then everything is copied). Under `--full-check`
 * each copy is read before it is linked.
 */
async function previousCopy(env: AgentEnv, backup: BackupRow): Promise<PreviousCopy | null> {
  const prev = await previousVerifiedBackup(env.rt.pool, {
    id: backup.id,
    host: backup.host,
    kind: backup.kind,
    paths: backup.request.paths,
    before: backup.createdAt,
  });
  if (!prev) return null;
  const index = await readSourceIndex(env.backupRoot, prev.key);
  if (!index) return null;
  return {
    backupId: prev.id,
    dir: path.join(env.backupRoot, prev.key),
    index,
    rows: await previousFiles(env.rt.pool, prev.id),
    keyId: env.rt.config.encryption.currentId,
    checkFirst: backup.request.fullCheck === true,
    altered: [],
  };
}

/**
 * `--full-check` found stored copies of the previous backup that no longer match their rows: this
 * backup copied those files afresh, and the previous one's local copy is read in full, which marks
 * every backup holding a bad copy corrupt and heals it from a target (verify-local).
 */
async function reportAltered(env: AgentEnv, previous: PreviousCopy, log: JobContext['log']): Promise<void> {
  log.warn(
    { backupId: previous.backupId, files: previous.altered.length, first: previous.altered[0] },
    'full check: stored copies of the previous backup differ from what was recorded; copied afresh, and that local copy is checked in full',
  );
  await env.rt.queues.add('verify-local', { backupId: previous.backupId, host: env.host, by: 'verify' });
}

/**
 * Copies the found files into `dir` (made if missing, left by a killed run pruned), removes what
 * an earlier attempt left that is no longer part of it, and makes it all durable.
 */
export async function captureFiles(found: FoundFile[], dir: string, opts: CaptureOptions): Promise<Captured> {
  // Made first, so a snapshot that takes nothing (an empty source) still ends with its directory.
  await mkdir(dir, { recursive: true });
  await pruneBackupDir(dir);
  const reader = new TreeReader();
  const copy: CopyContext & { dirs: DirMaker } = {
    signal: opts.signal,
    notes: opts.notes,
    snapshotted: new Set(),
    keyring: opts.keyring,
    reader,
    names: opts.names,
    dirs: new DirMaker(),
  };
  let copied: Copied;
  try {
    copied = await copyAll(found, dir, copy, opts.previous, opts.log);
  } finally {
    await reader.close();
    // The previous backup's rows and source index served the copy loop only; let them go before
    // the new index is built and written, instead of holding both at the snapshot's peak.
    opts.previous?.rows.clear();
    opts.previous?.index.clear();
  }
  const { files } = copied;
  await pruneBackupDir(dir, new Set(files.map((f) => f.storedPath)));
  await makeDurable(
    dir,
    files.map((f) => f.storedPath),
  );
  // Written once everything it describes is on disk; read by the next backup of the series.
  await writeSourceIndex(path.dirname(dir), path.basename(dir), copied.sources);
  return { files, linked: copied.linked };
}

/** The xattr reader takes UTF-8 paths only: say how many files kept their bytes but not their xattrs. */
function warnXattrsUnread(found: FoundFile[], log: JobContext['log']): void {
  const unread = found.filter((f) => f.from.kind === 'tree' && !isUtf8(f.from.name));
  if (!unread.length) return;
  log.warn(
    { files: unread.length, first: unread[0]?.path },
    'files whose names are not valid UTF-8: stored with their raw names, but their extended attributes (ACLs) were not recorded',
  );
}
