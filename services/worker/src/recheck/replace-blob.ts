import type { Readable } from 'node:stream';
import { CopyChecks, RotFindings, type StoredBlob } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import {
  blobKey,
  CorruptObjectError,
  created,
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
 * another repair is never deleted again. 'not-bad': nothing to do. An agent's create-only view
 * cannot delete: 'left-to-pool' when a bad object of the blob's own is in the way (the pool's
 * repair deletes it, then asks the agent again).
 */
export async function replaceBadBlob(
  rt: Runtime,
  target: StorageTarget,
  blob: StoredBlob,
  source: BlobSource,
  signal?: AbortSignal,
): Promise<'replaced' | 'not-bad' | 'left-to-pool'> {
  const key = blobKey(blob.sha256);
  return whileBad(rt, target.name, blob.sha256, async () => {
    if (!target.writeOnly) await target.delete(key);
    const opts = { sha256: blob.sha256, size: blob.size, ...(signal && { signal }) };
    if (!(await created(target.put(key, await source.open(), opts)))) return 'left-to-pool';
    // A blob that was in a pack now has its own object: packs stay write-once.
    await rt.blobs.movedToOwnObject(target.name, blob.sha256);
    await new CopyChecks(rt.pool, rt.clock).blobsGood(target.name, [blob.sha256]);
    await new RotFindings(rt.pool, rt.clock).healed(target.name, '', key, source.name);
    rt.log.warn(
      { target: target.name, blob: blob.sha256, from: source.name },
      'replaced a corrupt or missing blob',
    );
    return 'replaced';
  });
}

/**
 * Deletes the object of its own of a blob marked bad (a packed blob has none), with the pool's
 * credential, so that an agent, which may only create, can put good bytes there (repair-from-local).
 */
export async function deleteBadBlob(rt: Runtime, target: StorageTarget, blob: StoredBlob): Promise<void> {
  await whileBad(rt, target.name, blob.sha256, () => target.delete(blobKey(blob.sha256)));
}

/** Runs `fn` under the blob's lock across processes, if the blob is still marked bad there. */
async function whileBad<T>(
  rt: Runtime,
  target: string,
  sha256: string,
  fn: () => Promise<T>,
): Promise<T | 'not-bad'> {
  const client = await rt.pool.connect();
  const lock = `fleet-backup blob ${target} ${sha256}`;
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [lock]);
    const checks = new CopyChecks(rt.pool, rt.clock);
    if (!(await checks.badAmong(target, [sha256])).has(sha256)) return 'not-bad';
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lock]).catch(() => {});
    client.release();
  }
}

/** Whether a failed copy of a blob shows the source's own bytes are bad (not that it was unreachable). */
export function sourceBytesBad(err: unknown): boolean {
  return err instanceof IntegrityError || err instanceof CorruptObjectError || err instanceof NotFoundError;
}
