import { isUtf8 } from 'node:buffer';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Keyring, PermanentFailure, type TreeNode } from '@fleet-backup/core';
import type { BackupRow, FileRow } from '@fleet-backup/db';
import type { JobContext } from '@fleet-backup/queue';
import { type AgentEnv, allowedRoots, backupDir } from '../agent-env.ts';
import { syncDir } from '../fs/atomic-copy.ts';
import type { FoundFile, SkippedItem } from '../fs/found.ts';
import { loadOwnerNames, type OwnerNames } from '../fs/owner-names.ts';
import { pruneBackupDir } from '../fs/prune.ts';
import { resolveScope, walkRoots } from '../fs/roots.ts';
import { TreeReader } from '../fs/tree-reader.ts';
import { walk } from '../fs/walk.ts';
import { warnSensitiveSkipped } from '../stages/sensitive.ts';
import { type CopyContext, type SnapshotRow, snapshotFile } from '../stages/snapshot-file.ts';
import { captureSystemState } from './system-state.ts';
import { skipReason } from './take-or-skip.ts';

/** What one snapshot took: file rows, directory and symlink nodes, and what it skipped (with notes). */
export interface Taken {
  files: SnapshotRow[];
  nodes: TreeNode[];
  skipped: SkippedItem[];
}

/** Walks the requested paths and copies every file taken into the backup directory. */
export async function takeSnapshot(env: AgentEnv, backup: BackupRow, ctx: JobContext): Promise<Taken> {
  const dir = backupDir(env, backup);
  const names = await loadOwnerNames();
  const limits = {
    backupRoot: env.backupRoot,
    allowedRoots: allowedRoots(env.hostConfig),
    ...(backup.request.scope && { scope: await resolveScope(backup.request.scope) }),
  };
  const found = await walk(walkRoots(backup.request.paths, env.hostConfig), limits, names);
  const skipped = [...found.skipped];
  // environment.config / dependencies.config, when this backup takes the host's sources.
  const generated = await captureSystemState(env, backup, found.files, ctx);
  let captured: Captured;
  try {
    captured = await captureFiles([...found.files, ...generated.files], dir, {
      signal: ctx.signal,
      log: ctx.log,
      keyring: env.rt.config.encryption,
      names,
      notes: skipped,
    });
  } finally {
    await generated.remove();
  }
  warnXattrsUnread(found.files, ctx.log);
  return { files: captured.files, nodes: found.nodes, skipped };
}

export interface CaptureOptions {
  signal: AbortSignal;
  log: JobContext['log'];
  keyring: Keyring;
  names: OwnerNames;
  /** Skipped files and notes on stored ones: appended to. */
  notes: SkippedItem[];
}

export interface Captured {
  /** In the order the files were found. */
  files: SnapshotRow[];
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
  const copy: CopyContext = {
    signal: opts.signal,
    notes: opts.notes,
    snapshotted: new Set(),
    keyring: opts.keyring,
    reader,
    names: opts.names,
  };
  let files: SnapshotRow[];
  try {
    files = await copyAll(found, dir, copy, opts.log);
  } finally {
    await reader.close();
  }
  await pruneBackupDir(dir, new Set(files.map((f) => f.storedPath)));
  await syncTree(dir, files);
  return { files };
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

/** Copies each file the shared take-or-skip rule takes (capture/take-or-skip.ts, as `plan` does). */
async function copyAll(
  found: FoundFile[],
  dir: string,
  copy: CopyContext,
  log: JobContext['log'],
): Promise<SnapshotRow[]> {
  const files: SnapshotRow[] = [];
  const taken = new Map<string, string>();
  const decisions = { keyId: copy.keyring.currentId, sqliteSnapshots: copy.snapshotted };
  for (const file of found) {
    copy.signal.throwIfAborted();
    const reason = skipReason(file, decisions);
    if (reason !== null) {
      copy.notes.push({ path: file.path, reason });
      warnSensitiveSkipped(file, decisions.keyId, log);
      continue;
    }
    const row = await snapshotFile(file, dir, copy);
    if (!row) continue;
    const clash = taken.get(row.storedPath);
    if (clash) {
      throw new PermanentFailure(
        `${clash} and ${row.path} would both be stored as ${row.storedPath}; rename one or exclude it`,
      );
    }
    taken.set(row.storedPath, row.path);
    files.push(row);
  }
  return files;
}

/** fsyncs every directory that received a rename, deepest first, then the backup directory. */
async function syncTree(dir: string, files: Pick<FileRow, 'storedPath'>[]): Promise<void> {
  const dirs = new Set<string>([dir, path.dirname(dir)]);
  for (const f of files) {
    for (let d = path.dirname(path.join(dir, f.storedPath)); d.startsWith(dir); d = path.dirname(d))
      dirs.add(d);
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await syncDir(d);
}
