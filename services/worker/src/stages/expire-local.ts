import { rm } from 'node:fs/promises';
import { BACKUP_KEY, isKept, LOCAL_COPY, PermanentFailure } from '@fleet-backup/core';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { lifecycleStore } from '@fleet-backup/runtime';
import { type AgentEnv, assertOwnHost, backupDir } from '../agent-env.ts';
import { removeSourceIndex } from '../capture/source-index.ts';
import { syncDir } from '../fs/atomic-copy.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';

/**
 * expire-local (agent): the host's part of removing a backup marked expiring or retiring. It
 * rewrites backup_metadata.json without it first, so the file never lists a copy that is half
 * gone, then deletes BACKUP_ROOT/<key>, records that, and ends the backup if nothing else remains.
 * A kept backup is never touched. Run twice, or after a crash halfway, it converges.
 */
export async function expireLocal(
  env: AgentEnv,
  data: JobData<'expire-local'>,
  ctx: JobContext,
): Promise<void> {
  const { rt } = env;
  const backup = await rt.backups.require(data.backupId);
  assertOwnHost(env, backup);
  const name = `${backup.host}/${backup.key}`;
  if (isKept(backup.lifecycle)) {
    throw new PermanentFailure(
      `refusing to delete the local copy of ${name}: it is not marked to expire or retire`,
      {
        backupId: backup.id,
      },
    );
  }
  if (!BACKUP_KEY.test(backup.key)) {
    throw new PermanentFailure(`backup ${name} has a key that is not a directory name this agent wrote`);
  }
  const store = lifecycleStore(rt);
  const local = (await store.removals(backup.id)).find((r) => r.copy === LOCAL_COPY);
  if (local && !local.removedAt) {
    await writeHostMetadataFile(rt.pool, env.host, env.backupRoot);
    const dir = backupDir(env, backup);
    try {
      // The index first: it must never describe a directory that is half gone.
      await removeSourceIndex(env.backupRoot, backup.key);
      await rm(dir, { recursive: true, force: true });
      await syncDir(env.backupRoot);
    } catch (err) {
      await store.recordRemovalError(backup.id, LOCAL_COPY, (err as Error).message);
      throw err;
    }
    await store.recordRemoved(backup.id, LOCAL_COPY);
    ctx.log.info({ dir }, 'local copy removed');
  }
  await store.finishIfRemoved(backup.id);
}
