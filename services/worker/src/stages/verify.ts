import { CopyChecks } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import { type Runtime, runStage, type StageSpec } from '@fleet-backup/runtime';
import { readOnly } from '@fleet-backup/storage';
import { type Settled, settleCopyIn } from '../recheck/settle.ts';
import {
  followUpCorrupt,
  readTargetCopy,
  recordTargetRead,
  type TargetRead,
} from '../recheck/target-copy.ts';

/**
 * verify (pool): reads the copy on one target back: the whole manifest, byte for byte (against
 * the sha256 kept when it was written), and every blob not read good within the re-read window
 * (what this backup uploaded, and anything overdue), re-hashed; the others are confirmed present. A mismatch marks that
 * copy corrupt (the backup then stays unverified) and queues a repair from a good copy, after
 * which the copy is read again; only a copy whose every byte matches counts as verified.
 */
export async function verify(rt: Runtime, data: JobData<'verify'>, ctx: JobContext): Promise<void> {
  await runStage(rt, verifyStage(rt), data, ctx);
}

/** What reading the copy found: the read itself, and whether it found bad objects not known before. */
interface Read {
  target: string;
  read: TargetRead;
  news: boolean;
}

/** The verify stage's parts: it only reads its target, and records the verdict. */
export function verifyStage(rt: Runtime): StageSpec<JobData<'verify'>, Read, Settled | null> {
  return {
    stage: 'verify',
    async work(input, { backup, signal }) {
      // Verify only reads: it gets a view of the target with no put or delete.
      const target = readOnly(rt.targets.get(input.target));
      const detail = await rt.backups.detail(backup.id);
      // What was read good within the re-read window is only confirmed present: a daily reads back
      // what it uploaded, and the rolling re-read keeps the rest read within the window.
      const since = new Date(rt.clock.now().getTime() - rt.config.recheckWindowDays * 86_400_000);
      const read = await readTargetCopy(rt, detail, target, signal, since);
      const news = await recordTargetRead(rt, detail, target.name, read, 'verify');
      return { target: target.name, read, news };
    },
    commit: (tx, { target, read }, { backup }) =>
      settleCopyIn(rt, tx, {
        backupId: backup.id,
        copy: target,
        problems: read.problems,
        detail: {
          checkedFiles: read.checkedFiles,
          checkedBytes: read.checkedBytes,
          vouchedBytes: read.vouchedBytes,
          by: 'verify',
        },
        finishStage: true,
      }),
    async afterCommit({ target, read, news }, settled, { backup, log }) {
      rt.metrics.bytesVerified.inc({ target }, read.checkedBytes);
      await new CopyChecks(rt.pool, rt.clock).noteReadBack(target, read.checkedBytes + read.manifest.bytes);
      const fields = { target, backupId: backup.id, key: backup.key, by: 'verify' };
      if (read.problems.length)
        log.error({ ...fields, problems: read.problems.slice(0, 10) }, 'copy is corrupt');
      else log.info(fields, settled?.previous === 'corrupt' ? 'copy verified again' : 'copy verified');
      if (settled?.status === 'corrupt')
        await followUpCorrupt(rt, { backupId: backup.id, host: backup.host, target }, read, news);
    },
    // The host's backup_metadata.json lives on its agent; ask it to refresh, on every delivery
    // (a pre-change's on the urgent lane, so the file says `verified` without waiting for a daily).
    async next(backup, input) {
      const lane = backup.kind === 'pre_change' ? { lane: 'urgent' as const } : {};
      await rt.queues.add('refresh-metadata', { host: input.host, backupId: input.backupId, ...lane });
    },
  };
}
