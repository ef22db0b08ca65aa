import { LOCAL_COPY } from '@fleet-backup/core';
import { olderInSeries } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { runStage, type StageSpec } from '@fleet-backup/runtime';
import { type AgentEnv, assertOwnHost } from '../agent-env.ts';
import { checkLocalFiles } from '../capture/check-local-files.ts';
import { removeSourceIndex } from '../capture/source-index.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';

/**
 * hash: re-reads every file the snapshot wrote into the local copy (all of them with
 * `--full-check`) and checks size and sha256 against the snapshot pass (for an encrypted file,
 * those of the stored ciphertext). A mismatch means the disk did not keep what was written: it
 * fails for good, naming the file. Files hardlinked from the previous backup are left to the
 * rolling re-check (capture/check-local-files.ts).
 */
export async function hash(env: AgentEnv, data: JobData<'hash'>, ctx: JobContext): Promise<void> {
  await runStage(env.rt, hashStage(env), data, ctx);
}

/** The hash stage's parts: the work finds how many files read good; the commit vouches for them. */
export function hashStage(env: AgentEnv): StageSpec<JobData<'hash'>, number> {
  const { backups } = env.rt;
  return {
    stage: 'hash',
    accept: (backup) => assertOwnHost(env, backup),
    async work(_input, ports) {
      const files = await backups.storedFiles(ports.backup.id);
      await checkLocalFiles(env.backupRoot, ports.backup, files, ports.signal);
      return files.length;
    },
    async commit(tx, files, { backup }) {
      await backups.markHashed(tx, backup.id);
      await backups.setCopy(tx, backup.id, LOCAL_COPY, 'verified', { files });
    },
    async afterCommit(_files, _committed, { backup }) {
      await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
      // The next backup of the series links from this one now: older source indexes would never be
      // read again (one per backup of a million-file host is about 110 MB).
      const older = await olderInSeries(env.rt.pool, {
        id: backup.id,
        host: backup.host,
        kind: backup.kind,
        paths: backup.request.paths,
        before: backup.createdAt,
      });
      for (const key of older) await removeSourceIndex(env.backupRoot, key);
    },
  };
}
