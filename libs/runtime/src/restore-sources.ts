import { access } from 'node:fs/promises';
import path from 'node:path';
import { BadInputError, LOCAL_COPY } from '@fleet-backup/core';
import { type BackupDetail, storedBlob } from '@fleet-backup/db';
import { readOnly } from '@fleet-backup/storage';
import { type CopySource, localSource, restoreSetOfDetail, targetSource } from './restore.ts';
import type { Runtime } from './runtime.ts';

/**
 * The copies to restore from, nearest first. `auto`: the verified copies — the host's own
 * (when this machine has it), then other disks, then offsite ones. Otherwise the copy named:
 * `local`, a target name, or a target kind (`s3`, `gcs`, `fs`).
 */
export async function restoreSources(rt: Runtime, detail: BackupDetail, from: string): Promise<CopySource[]> {
  const localDir = path.join(rt.config.backupRoot, detail.backup.key);
  const local = localSource(LOCAL_COPY, localDir);
  if (from === LOCAL_COPY) return [local];
  if (from !== 'auto') {
    const copy = detail.copies.find((c) => c.target === from) ?? detail.copies.find((c) => c.kind === from);
    if (!copy || copy.target === LOCAL_COPY) {
      throw new BadInputError(
        `backup ${detail.backup.key} has no copy "${from}" (copies: ${detail.copies.map((c) => c.target).join(', ')})`,
      );
    }
    return [await catalogTargetSource(rt, detail, copy.target)];
  }
  const verified = detail.copies.filter((c) => c.status === 'verified');
  const rank = (c: { target: string; offsite: boolean }) => (c.target === LOCAL_COPY ? 0 : c.offsite ? 2 : 1);
  const sources: CopySource[] = [];
  for (const copy of [...verified].sort((a, b) => rank(a) - rank(b))) {
    if (copy.target === LOCAL_COPY) {
      if (
        await access(localDir).then(
          () => true,
          () => false,
        )
      )
        sources.push(local);
    } else sources.push(await catalogTargetSource(rt, detail, copy.target));
  }
  return sources;
}

/** A target's copy of the backup, its blobs found where Postgres records them (in a pack or not). */
export async function catalogTargetSource(
  rt: Runtime,
  detail: BackupDetail,
  target: string,
): Promise<CopySource> {
  const places = await rt.blobs.places(
    target,
    detail.files.map((f) => storedBlob(f).sha256),
  );
  return targetSource(readOnly(rt.targets.get(target)), places, restoreSetOfDetail(detail).files);
}
