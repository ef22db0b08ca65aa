import { LOCAL_COPY } from '@fleet-backup/core';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { type AgentEnv, assertOwnHost } from '../agent-env.ts';
import { checkLocalFiles } from '../capture/check-local-files.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';

/**
 * hash: re-reads every file of the local copy and checks size and sha256 against the snapshot
 * pass (for an encrypted file, those of the stored ciphertext). A mismatch means the disk did not keep what was written: it fails for good, naming the file.
 */
export async function hash(env: AgentEnv, data: JobData<'hash'>, ctx: JobContext): Promise<void> {
  const { backups } = env.rt;
  const backup = await backups.require(data.backupId);
  assertOwnHost(env, backup);
  if ((await backups.startStage(backup.id, 'hash')) === 'started') {
    const { files } = await backups.detail(backup.id);
    await checkLocalFiles(env.backupRoot, backup, files, ctx.signal);
    await backups.transaction(async (tx) => {
      await backups.lock(backup.id, tx);
      await backups.markHashed(tx, backup.id);
      await backups.setCopy(tx, backup.id, LOCAL_COPY, 'verified', { files: files.length });
      await backups.finishStage(tx, backup.id, 'hash');
    });
    await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
  }
  await env.rt.advance(backup.id);
}
