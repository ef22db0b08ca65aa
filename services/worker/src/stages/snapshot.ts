import { isUtf8 } from 'node:buffer';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PermanentFailure, retentionAfterSnapshot, type TreeNode } from '@fleet-backup/core';
import { type BackupRow, type FileRow, upgradeRetention } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { runStage, type StageSpec } from '@fleet-backup/runtime';
import { type AgentEnv, allowedRoots, assertOwnHost, backupDir } from '../agent-env.ts';
import { captureSystemState } from '../capture/system-state.ts';
import { skipReason } from '../capture/take-or-skip.ts';
import { syncDir } from '../fs/atomic-copy.ts';
import type { FoundFile, SkippedItem } from '../fs/found.ts';
import { loadOwnerNames } from '../fs/owner-names.ts';
import { pruneBackupDir } from '../fs/prune.ts';
import { resolveScope, walkRoots } from '../fs/roots.ts';
import { TreeReader } from '../fs/tree-reader.ts';
import { walk } from '../fs/walk.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';
import { type Completeness, checkCompleteness, logCompleteness } from './completeness.ts';
import { warnSensitiveSkipped } from './sensitive.ts';
import { type CopyContext, type SnapshotRow, snapshotFile } from './snapshot-file.ts';

/** What the data work needs of its job: the signal and the logger (the stage's ports). */
type WorkContext = Pick<JobContext, 'signal' | 'log'>;

/** What one snapshot took: file rows, directory and symlink nodes, and what it skipped (with notes). */
interface Taken {
  files: SnapshotRow[];
  nodes: TreeNode[];
  skipped: SkippedItem[];
}

/**
 * snapshot: copies each requested file into BACKUP_ROOT/<key>/<absolute path without '/'><suffix>,
 * hashing in the same read, each file renamed into place only when complete and fsynced, and
 * records every directory and symlink with the attributes a restore needs.
 * A rerun (retry, or after a crash) starts over from the source and converges on the same state.
 */
export async function snapshot(env: AgentEnv, data: JobData<'snapshot'>, ctx: JobContext): Promise<void> {
  await runStage(env.rt, snapshotStage(env), data, ctx);
}

/** The snapshot stage's parts; the protocol around them is runStage's. */
export function snapshotStage(
  env: AgentEnv,
): StageSpec<JobData<'snapshot'>, Taken | null, Completeness | null> {
  const { backups } = env.rt;
  return {
    stage: 'snapshot',
    accept: (backup) => assertOwnHost(env, backup),
    async work(_input, { backup, signal, log }) {
      // A late delivery after hash vouched for the files must leave them alone, on disk and in rows.
      const hashed = (await backups.stage(backup.id, 'hash'))?.status === 'done';
      return hashed ? null : takeSnapshot(env, backup, { signal, log });
    },
    async commit(tx, taken, { backup }) {
      if (!taken) return null;
      await backups.saveSnapshot(tx, backup.id, taken.files, taken.skipped, taken.nodes);
      // Known only now: a pre_change holding database files is kept permanently (the seed).
      const retention = retentionAfterSnapshot(
        backup.request,
        taken.files.map((f) => f.cls),
      );
      if (retention) await upgradeRetention(tx, backup.id, retention);
      const completeness = await checkCompleteness(env, backup, taken.files, tx);
      await backups.saveCompleteness(tx, backup.id, completeness);
      return completeness;
    },
    async afterCommit(taken, found, { log }) {
      if (taken) {
        const bytes = taken.files.reduce((n, f) => n + f.size, 0);
        log.info(
          { files: taken.files.length, nodes: taken.nodes.length, bytes, skipped: taken.skipped.length },
          'snapshot written',
        );
        env.rt.metrics.bytesCopied.inc(bytes);
      }
      if (found) logCompleteness(log, found);
      await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
    },
  };
}

/** Walks the requested paths and copies every file taken into the backup directory. */
async function takeSnapshot(env: AgentEnv, backup: BackupRow, ctx: WorkContext): Promise<Taken> {
  const dir = backupDir(env, backup);
  // Made first, so a snapshot that takes nothing (an empty source) still ends with its directory.
  await mkdir(dir, { recursive: true });
  await pruneBackupDir(dir);
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
  const reader = new TreeReader();
  const copy: CopyContext = {
    signal: ctx.signal,
    notes: skipped,
    snapshotted: new Set(),
    keyring: env.rt.config.encryption,
    reader,
    names,
  };
  let files: SnapshotRow[];
  try {
    files = await copyAll([...found.files, ...generated.files], dir, copy, ctx);
  } finally {
    await reader.close();
    await generated.remove();
  }
  await pruneBackupDir(dir, new Set(files.map((f) => f.storedPath)));
  await syncTree(dir, files);
  warnXattrsUnread(found.files, ctx.log);
  return { files, nodes: found.nodes, skipped };
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
  ctx: WorkContext,
): Promise<SnapshotRow[]> {
  const files: SnapshotRow[] = [];
  const taken = new Map<string, string>();
  const decisions = { keyId: copy.keyring.currentId, sqliteSnapshots: copy.snapshotted };
  for (const file of found) {
    ctx.signal.throwIfAborted();
    const reason = skipReason(file, decisions);
    if (reason !== null) {
      copy.notes.push({ path: file.path, reason });
      warnSensitiveSkipped(file, decisions.keyId, ctx.log);
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
