import { createReadStream } from 'node:fs';
import path from 'node:path';
import { LOCAL_COPY, PermanentFailure } from '@fleet-backup/core';
import { storedBlob } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { hashStream } from '@fleet-backup/storage';
import { type AgentEnv, assertOwnHost, backupDir } from '../agent-env.ts';
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
    const dir = backupDir(env, backup);
    for (const file of files) {
      ctx.signal.throwIfAborted();
      const local = path.join(dir, file.storedPath);
      const actual = await hashStream(
        createReadStream(local, { highWaterMark: 1 << 20, signal: ctx.signal }),
      ).catch((err) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new PermanentFailure(`${local} is missing from the local copy; re-run the backup`, {
            file: file.path,
          });
        }
        throw err;
      });
      const want = storedBlob(file);
      if (actual.sha256 !== want.sha256 || actual.size !== want.size) {
        throw new PermanentFailure(
          `${local} does not match its snapshot (sha256 ${actual.sha256} size ${actual.size}, expected ${want.sha256} size ${want.size}); the backup disk may be failing — re-run the backup`,
          { file: file.path },
        );
      }
    }
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
