import type { Readable } from 'node:stream';
import { CopyChecks, RotFindings, type StoredBlob } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import {
  blobKey,
  CorruptObjectError,
  IntegrityError,
  NotFoundError,
  type StorageTarget,
} from '@fleet-backup/storage';

/** Where good bytes for a blob come from: another target, or a verified local copy. */
export interface BlobSource {
  /** 'local' or a target name, as recorded in the finding it heals. */
  name: string;
  open(): Promise<Readable>;
}

/**
 * Replaces a blob marked bad on a target with bytes from a good copy: delete, then put (objects
 * are otherwise write-once, and putBlobIfAbsent would keep the bad object). A blob that was in a
 * pack is put as its own object, and its place moves there; the pack is left as it is. The put checks the
 * sha256 of every byte it sends, so bad source bytes never land. Serialised per blob across
 * processes, and re-checked under the lock, so a blob already replaced by a replicate or
 * another repair is never deleted again. 'not-bad': nothing to do.
 */
export async function replaceBadBlob(
  rt: Runtime,
  target: StorageTarget,
  blob: StoredBlob,
  source: BlobSource,
  signal?: AbortSignal,
): Promise<'replaced' | 'not-bad'> {
  const checks = new CopyChecks(rt.pool, rt.clock);
  const key = blobKey(blob.sha256);
  const client = await rt.pool.connect();
  const lock = `fleet-backup blob ${target.name} ${blob.sha256}`;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
    if (!(await checks.badAmong(target.name, [blob.sha256])).has(blob.sha256)) return 'not-bad';
    await target.delete(key);
    await target.put(key, await source.open(), {
      sha256: blob.sha256,
      size: blob.size,
      ...(signal && { signal }),
    });
    // A blob that was in a pack now has its own object: packs stay write-once.
    await rt.blobs.movedToOwnObject(target.name, blob.sha256);
    await checks.blobsGood(target.name, [blob.sha256]);
    await new RotFindings(rt.pool, rt.clock).healed(target.name, '', key, source.name);
    rt.log.warn(
      { target: target.name, blob: blob.sha256, from: source.name },
      'replaced a corrupt or missing blob',
    );
    return 'replaced';
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => {});
    client.release();
  }
}

/** Whether a failed copy of a blob shows the source's own bytes are bad (not that it was unreachable). */
export function sourceBytesBad(err: unknown): boolean {
  return err instanceof IntegrityError || err instanceof CorruptObjectError || err instanceof NotFoundError;
}
