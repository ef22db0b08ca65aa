import { createReadStream } from 'node:fs';
import path from 'node:path';
import { LOCAL_COPY, PermanentFailure } from '@fleet-backup/core';
import { type FileRow, storedBlob } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { runStage, type StagePorts, type StageSpec } from '@fleet-backup/runtime';
import { hashStream } from '@fleet-backup/storage';
import { type AgentEnv, assertOwnHost, backupDir } from '../agent-env.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';

/**
 * hash: re-reads every file of the local copy and checks size and sha256 against the snapshot
 * pass (for an encrypted file, those of the stored ciphertext). A mismatch means the disk did not keep what was written: it fails for good, naming the file.
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
      const { files } = await backups.detail(ports.backup.id);
      await checkLocalFiles(backupDir(env, ports.backup), files, ports);
      return files.length;
    },
    async commit(tx, files, { backup }) {
      await backups.markHashed(tx, backup.id);
      await backups.setCopy(tx, backup.id, LOCAL_COPY, 'verified', { files });
    },
    async afterCommit() {
      await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
    },
  };
}

/** Reads each file of the local copy in dir back and compares it with its row; throws, naming the first that differs. */
async function checkLocalFiles(
  dir: string,
  files: FileRow[],
  { signal, progress }: Pick<StagePorts, 'signal' | 'progress'>,
): Promise<void> {
  let done = 0;
  for (const file of files) {
    signal.throwIfAborted();
    const local = path.join(dir, file.storedPath);
    const actual = await hashStream(createReadStream(local, { highWaterMark: 1 << 20, signal })).catch(
      (err) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new PermanentFailure(`${local} is missing from the local copy; re-run the backup`, {
            file: file.path,
          });
        }
        throw err;
      },
    );
    const want = storedBlob(file);
    if (actual.sha256 !== want.sha256 || actual.size !== want.size) {
      throw new PermanentFailure(
        `${local} does not match its snapshot (sha256 ${actual.sha256} size ${actual.size}, expected ${want.sha256} size ${want.size}); the backup disk may be failing — re-run the backup`,
        { file: file.path },
      );
    }
    progress(++done, files.length);
  }
}
