import { CopyChecks, type CopyHolding, type RotFinder, RotFindings, type StoredBlob } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import { blobKey } from '@fleet-backup/storage';
import type { CopyProblem } from './blob-read.ts';
import { settleCopy } from './settle.ts';

/**
 * A blob read bad on a target spoils the copy there of every kept backup holding it, not only the
 * one being read: each gets a finding and, when it was verified, its copy turned corrupt (the
 * backup loses verified and 3-2-1). A repair then heals the blob and reads those copies again.
 */
export async function markHoldersCorrupt(
  rt: Runtime,
  target: string,
  bad: { blob: StoredBlob; problem: string },
  foundBy: RotFinder,
  except: string | null = null,
): Promise<void> {
  const holders = await new CopyChecks(rt.pool, rt.clock).holding(target, bad.blob.sha256);
  const object = blobKey(bad.blob.sha256);
  await markCopiesCorrupt(rt, target, holders, { object, problem: bad.problem }, foundBy, except);
}

/** Each of these copies (but `except`) gets a finding of the bad object and, when verified, turns corrupt. */
export async function markCopiesCorrupt(
  rt: Runtime,
  target: string,
  holders: CopyHolding[],
  bad: { object: string; problem: string },
  foundBy: RotFinder,
  except: string | null,
): Promise<void> {
  const findings = new RotFindings(rt.pool, rt.clock);
  for (const h of holders.filter((x) => x.backupId !== except)) {
    await findings.record({
      copy: target,
      host: h.host,
      backupId: h.backupId,
      object: bad.object,
      problem: bad.problem,
      foundBy,
    });
    if (h.status === 'verified') {
      await markCorrupt(
        rt,
        h,
        target,
        h.paths.map((path) => ({ path, problem: bad.problem })),
        foundBy,
      );
    }
  }
}

/** Turns one verified copy corrupt with its problems, and has the host's metadata file say so. */
export async function markCorrupt(
  rt: Runtime,
  holder: Pick<CopyHolding, 'backupId'>,
  target: string,
  problems: CopyProblem[],
  by: RotFinder,
): Promise<void> {
  const settled = await settleCopy(rt, { backupId: holder.backupId, copy: target, problems, detail: { by } });
  if (settled && settled.status !== settled.previous) {
    await rt.queues.add('refresh-metadata', { host: settled.host, backupId: holder.backupId });
  }
}
