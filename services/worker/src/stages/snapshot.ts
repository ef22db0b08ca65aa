import { retentionAfterSnapshot } from '@fleet-backup/core';
import { upgradeRetention } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { type AgentEnv, assertOwnHost } from '../agent-env.ts';
import { takeSnapshot } from '../capture/take-snapshot.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';
import { type Completeness, checkCompleteness, logCompleteness } from './completeness.ts';

/**
 * snapshot: copies each requested file into BACKUP_ROOT/<key>/<absolute path without '/'><suffix>,
 * hashing in the same read, each file renamed into place only when complete and fsynced, and
 * records every directory and symlink with the attributes a restore needs.
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
        await backups.saveSnapshot(tx, backup.id, taken.files, taken.skipped, taken.nodes);
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
      ctx.log.info(
        { files: taken.files.length, nodes: taken.nodes.length, bytes, skipped: taken.skipped.length },
        'snapshot written',
      );
      env.rt.metrics.bytesCopied.inc(bytes);
    }
    if (found) logCompleteness(ctx.log, found);
    await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
  }
  await env.rt.advance(backup.id);
}
