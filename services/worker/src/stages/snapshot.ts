import path from 'node:path';
import { PermanentFailure, retentionAfterSnapshot } from '@fleet-backup/core';
import { type BackupRow, type FileRow, upgradeRetention } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { type AgentEnv, allowedRoots, assertOwnHost, backupDir } from '../agent-env.ts';
import { captureSystemState } from '../capture/system-state.ts';
import { syncDir } from '../fs/atomic-copy.ts';
import { pruneBackupDir } from '../fs/prune.ts';
import { walkRoots } from '../fs/roots.ts';
import { type SkippedItem, walk } from '../fs/walk.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';
import { type Completeness, checkCompleteness, logCompleteness } from './completeness.ts';
import { skipSensitiveWithoutKey } from './sensitive.ts';
import { snapshotFile } from './snapshot-file.ts';

/**
 * snapshot: copies each requested file into BACKUP_ROOT/<key>/<absolute path without '/'><suffix>,
 * hashing in the same read, each file renamed into place only when complete and fsynced.
 * A rerun (retry, or after a crash) starts over from the source and converges on the same state.
 */
export async function snapshot(env: AgentEnv, data: JobData<'snapshot'>, ctx: JobContext): Promise<void> {
  const { backups } = env.rt;
  const backup = await backups.require(data.backupId);
  assertOwnHost(env, backup);
  if ((await backups.startStage(backup.id, 'snapshot')) === 'started') {
    // A late delivery after hash vouched for the files must leave them alone, on disk and in rows.
    const hashed = (await backups.stage(backup.id, 'hash'))?.status === 'done';
    const taken = hashed ? null : await takeSnapshot(env, backup, ctx);
    const found = await backups.transaction(async (tx): Promise<Completeness | null> => {
      await backups.lock(backup.id, tx);
      let completeness: Completeness | null = null;
      if (taken) {
        await backups.saveSnapshot(tx, backup.id, taken.files, taken.skipped);
        // Known only now: a pre_change holding database files is kept permanently (the seed).
        const retention = retentionAfterSnapshot(
          backup.request,
          taken.files.map((f) => f.cls),
        );
        if (retention) await upgradeRetention(tx, backup.id, retention);
        completeness = await checkCompleteness(env, backup, taken.files, tx);
        await backups.saveCompleteness(tx, backup.id, completeness);
      }
      await backups.finishStage(tx, backup.id, 'snapshot');
      return completeness;
    });
    if (taken) {
      const bytes = taken.files.reduce((n, f) => n + f.size, 0);
      ctx.log.info({ files: taken.files.length, bytes, skipped: taken.skipped.length }, 'snapshot written');
      env.rt.metrics.bytesCopied.inc(bytes);
    }
    if (found) logCompleteness(ctx.log, found);
    await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
  }
  await env.rt.advance(backup.id);
}

/** Copies every requested file into the backup directory; returns the file rows and what was skipped. */
async function takeSnapshot(
  env: AgentEnv,
  backup: BackupRow,
  ctx: JobContext,
): Promise<{ files: Omit<FileRow, 'hashedAt'>[]; skipped: SkippedItem[] }> {
  const dir = backupDir(env, backup);
  await pruneBackupDir(dir);
  const roots = walkRoots(backup.request.paths, env.hostConfig);
  const found = await walk(roots, { backupRoot: env.backupRoot, allowedRoots: allowedRoots(env.hostConfig) });
  const skipped = [...found.skipped];
  const files: Omit<FileRow, 'hashedAt'>[] = [];
  const taken = new Map<string, string>();
  const snapshotted = new Set<string>();
  const keyring = env.rt.config.encryption;
  // environment.config / dependencies.config, when this backup takes the host's sources.
  const generated = await captureSystemState(env, backup, found.files, ctx);
  try {
    for (const file of [...found.files, ...generated.files]) {
      ctx.signal.throwIfAborted();
      if (skipSensitiveWithoutKey(file, keyring, skipped, ctx.log)) continue;
      const row = await snapshotFile(file, dir, ctx.signal, skipped, snapshotted, keyring);
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
  } finally {
    await generated.remove();
  }
  await pruneBackupDir(dir, new Set(files.map((f) => f.storedPath)));
  await syncTree(dir, files);
  return { files, skipped };
}

/** fsyncs every directory that received a rename, deepest first, then the backup directory. */
async function syncTree(dir: string, files: { storedPath: string }[]): Promise<void> {
  const dirs = new Set<string>([dir, path.dirname(dir)]);
  for (const f of files) {
    for (let d = path.dirname(path.join(dir, f.storedPath)); d.startsWith(dir); d = path.dirname(d))
      dirs.add(d);
  }
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) await syncDir(d);
}
