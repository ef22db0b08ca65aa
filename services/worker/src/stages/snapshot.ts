import { retentionAfterSnapshot } from '@fleet-backup/core';
import { upgradeRetention } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { runStage, type StageSpec } from '@fleet-backup/runtime';
import { type AgentEnv, assertOwnHost } from '../agent-env.ts';
import { type Taken, takeSnapshot } from '../capture/take-snapshot.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';
import { type Completeness, checkCompleteness, logCompleteness } from './completeness.ts';

/**
 * snapshot: copies each requested file into BACKUP_ROOT/<key>/<absolute path without '/'><suffix>,
 * hashing in the same read, or hardlinks it from the series' previous backup when it is unchanged
 * (capture/take-snapshot.ts), each file renamed into place only when complete, everything made
 * durable before it is recorded, and records every directory and symlink with the attributes a
 * restore needs.
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
