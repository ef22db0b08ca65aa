import { createHash } from 'node:crypto';
import { CopyChecks, RotFindings, type StoredBlob, storedBlob } from '@fleet-backup/db';
import {
  blobKey,
  NotFoundError,
  openBlob,
  type PackPlace,
  type ReadOnlyTarget,
  StorageError,
} from '@fleet-backup/storage';
import type { Runtime } from '../runtime.ts';

/**
 * A copy that failed a drill on its bytes is corrupt, exactly as if verify had found it: it stops
 * counting towards 3-2-1, the backup is no longer verified, and the host's backup_metadata.json
 * says so. The blob that served the bad bytes is marked bad on that target (replicate then never
 * trusts it) and a repair of the target is queued, which heals it from a good copy and reads the
 * copy again.
 */
export async function markCopyCorrupt(
  rt: Runtime,
  found: { backupId: string; target: string; path: string; problem: string; drillId: string },
): Promise<void> {
  const { backups } = rt;
  const { backupId } = found;
  const backup = await backups.transaction(async (tx) => {
    await backups.lock(backupId, tx);
    await backups.setCopy(tx, backupId, found.target, 'corrupt', {
      drill: found.drillId,
      problems: [{ path: found.path, problem: found.problem }],
    });
    return backups.refresh(backupId, tx);
  });
  await rt.queues.add('refresh-metadata', { host: backup.host, backupId });
  const file = (await backups.detail(backupId)).files.find((f) => f.path === found.path);
  if (!file) return;
  const blob = storedBlob(file);
  const bad = await blobsServingBad(rt, found.target, blob);
  const findings = new RotFindings(rt.pool, rt.clock);
  const checks = new CopyChecks(rt.pool, rt.clock);
  for (const b of bad.length ? bad : [blob]) {
    await findings.record({
      copy: found.target,
      host: backup.host,
      backupId,
      object: blobKey(b.sha256),
      problem: found.problem,
      foundBy: 'drill',
    });
    if (bad.length) await checks.blobBad(found.target, b, found.problem);
  }
  // Always, even when the blob was marked bad already: whoever marked it may have been a repair's
  // last re-read, which queues no repair, and the copy would wait corrupt for the rolling re-read.
  // A repair with nothing to heal reads the corrupt copy again and settles it.
  await rt.queues.add('repair', { target: found.target });
}

/**
 * The blobs that served a file's bad bytes. A file stored as chunks on the target: the chunks
 * that read bad now, each read and hashed (none when none does), so the repair heals those
 * chunks. Marking the file's own blob instead had the repair write the whole file as an object of
 * its own, which every later restore and drill read in place of the chunks, so rot in them went
 * unseen (tests/lifecycle/chunks.test.ts). Any other file: its blob.
 */
async function blobsServingBad(rt: Runtime, target: string, blob: StoredBlob): Promise<StoredBlob[]> {
  const place = await rt.blobs.placeOf(target, blob.sha256);
  if (!place || !('chunks' in place)) return [blob];
  const bad: StoredBlob[] = [];
  try {
    for (const c of place.chunks) {
      const chunk = { sha256: c.sha256, size: c.length };
      if (await readsBad(rt.targets.get(target), chunk, c.place)) bad.push(chunk);
    }
  } catch (err) {
    // The target went away meanwhile: which chunk is bad stays unknown, and the repair finds out.
    rt.log.warn({ err, target, blob: blob.sha256 }, 'could not read the chunks again to find the bad one');
    return [];
  }
  return bad;
}

/** Whether a blob reads back other than its sha256 and size; an unreachable target throws. */
async function readsBad(target: ReadOnlyTarget, blob: StoredBlob, place: PackPlace | null): Promise<boolean> {
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const bytes of await openBlob(target, blob.sha256, place ?? undefined)) {
      hash.update(bytes as Buffer);
      size += (bytes as Buffer).length;
    }
    return hash.digest('hex') !== blob.sha256 || size !== blob.size;
  } catch (err) {
    if (err instanceof NotFoundError || (err instanceof StorageError && !err.transient)) return true;
    throw err;
  }
}

/**
 * The drill restores from a target, never from the host's own copy (which dies with the host).
 * That copy gets its own check, on the host: the agent reads the drilled backup's local copy
 * back in full (verify-local), marks it corrupt if it reads bad and heals it from a target.
 */
export async function checkLocalCopyToo(rt: Runtime, host: string, backupId: string): Promise<void> {
  try {
    await rt.queues.add('verify-local', { backupId, host, by: 'drill' });
  } catch (err) {
    rt.log.warn(
      { err, host, backupId },
      'could not queue the check of the local copy; the rolling re-check reads it',
    );
  }
}
