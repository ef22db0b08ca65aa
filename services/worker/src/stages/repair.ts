import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { LOCAL_COPY } from '@fleet-backup/core';
import {
  type BackupDetail,
  CopyChecks,
  ListingStore,
  LocalChecks,
  RotFindings,
  type StoredBlob,
  storedBlob,
} from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import type { Runtime } from '@fleet-backup/runtime';
import {
  IntegrityError,
  listingKey,
  manifestKey,
  NotFoundError,
  openBlob,
  readObject,
  StorageError,
  type StorageTarget,
} from '@fleet-backup/storage';
import { type AgentEnv, assertOwnHost } from '../agent-env.ts';
import { markHoldersCorrupt } from '../recheck/holders.ts';
import { localPath } from '../recheck/local-copy.ts';
import { catalogManifest, checkManifest, sha256Hex } from '../recheck/manifest-check.ts';
import { type BlobSource, deleteBadBlob, replaceBadBlob, sourceBytesBad } from '../recheck/replace-blob.ts';
import { recheckTargetCopy } from '../recheck/target-copy.ts';
import { putSegment } from './listing-chain.ts';

/**
 * repair (pool): heals one target. Each blob marked bad is replaced with the bytes of another
 * target whose last read of it was good; what no target holds good is asked of the agents that
 * hold it in a verified local copy (repair-from-local). Corrupt manifests are written again.
 * Then every corrupt copy on the target with no blob left marked bad is read again in full, and
 * goes back to verified when it reads good.
 */
export async function repair(rt: Runtime, data: JobData<'repair'>, ctx: JobContext): Promise<void> {
  const target = rt.targets.get(data.target);
  const checks = new CopyChecks(rt.pool, rt.clock);
  const local = new LocalChecks(rt.pool, rt.clock);
  const agents = new Set<string>();
  const lost: string[] = [];
  let replaced = 0;
  for (const blob of await checks.badBlobs(target.name)) {
    ctx.signal.throwIfAborted();
    // A blob no kept backup holds any more is garbage collection's, not worth healing.
    if ((await checks.holding(target.name, blob.sha256)).length === 0) continue;
    const outcome = await replaceFromTargets(rt, target, blob, ctx);
    if (outcome === 'replaced') replaced++;
    if (outcome !== 'no-source') continue;
    const host = (await local.hostsHolding(blob.sha256))[0];
    if (!host) lost.push(blob.sha256);
    else {
      // An agent may only create: the bad object goes first, with this process's credential.
      if (rt.targets.agentsWriteOnly(target.name)) await deleteBadBlob(rt, target, blob);
      agents.add(host);
    }
  }
  for (const host of agents) await rt.queues.add('repair-from-local', { host, target: target.name });
  const manifests = await rewriteBadManifests(rt, target, ctx);
  const reverified = await reverifyCorrupt(rt, target, ctx);
  const summary = { target: target.name, replaced, fromAgents: [...agents], manifests, reverified };
  if (lost.length) {
    ctx.log.error(
      { ...summary, blobs: lost.slice(0, 20) },
      `no good copy holds these blobs any more: the backups holding them stay corrupt on ${target.name}; run new backups of their hosts`,
    );
  } else ctx.log.info(summary, 'repair done');
}

/** Tries each other target that last read the blob good; 'no-source' when none could serve it. */
async function replaceFromTargets(
  rt: Runtime,
  target: StorageTarget,
  blob: StoredBlob,
  ctx: JobContext,
): Promise<'replaced' | 'not-bad' | 'no-source'> {
  const checks = new CopyChecks(rt.pool, rt.clock);
  const configured = new Set(rt.targets.names());
  for (const name of await checks.goodElsewhere(blob.sha256, target.name)) {
    if (!configured.has(name)) continue;
    const source = rt.targets.get(name);
    const place = await rt.blobs.placeOf(name, blob.sha256);
    const from: BlobSource = { name, open: () => openBlob(source, blob.sha256, place, ctx.signal) };
    try {
      const outcome = await replaceBadBlob(rt, target, blob, from, ctx.signal);
      // The pool's own credential deletes; only an agent's view leaves a blob to the pool.
      if (outcome !== 'left-to-pool') return outcome;
    } catch (err) {
      rethrowIfDestination(err, target);
      ctx.log.warn({ err, blob: blob.sha256, from: name }, 'could not copy the blob from this target');
      // A pack gone because a repack moved the blob since it was looked up is no rot there (as
      // verify's second look, recheck/blob-reads.ts): the blob comes from the next source instead.
      const moved =
        err instanceof NotFoundError &&
        JSON.stringify(await rt.blobs.placeOf(name, blob.sha256)) !== JSON.stringify(place);
      if (sourceBytesBad(err) && !moved) await rotAtSource(rt, { source: name, for: target.name }, blob, err);
    }
  }
  return 'no-source';
}

/**
 * The source's bytes of a blob were bad: rot there, found by the repair. Like a read that finds it,
 * it is marked bad, every kept backup holding it loses its verified copy there (3-2-1, alerts), the
 * finding is recorded, and a repair of that target is queued when it was not known bad before.
 */
async function rotAtSource(
  rt: Runtime,
  copies: { source: string; for: string },
  blob: StoredBlob,
  err: unknown,
): Promise<void> {
  // The error names the destination when its put refused the bytes; the rot is the source's.
  const what =
    err instanceof NotFoundError
      ? 'blob missing'
      : err instanceof IntegrityError
        ? 'blob content differs'
        : `unreadable: ${(err as Error).message}`;
  const problem = `${what} (read as the source of a repair of ${copies.for})`;
  const news = await new CopyChecks(rt.pool, rt.clock).blobBad(copies.source, blob, problem);
  await markHoldersCorrupt(rt, copies.source, { blob, problem }, 'repair');
  if (news) await rt.queues.add('repair', { target: copies.source });
}

/**
 * A failure of the target being repaired (down, access denied) fails the job, to be retried; a
 * failure of the source only moves on to the next one. Bad bytes always come from the source:
 * the destination's put refused them (IntegrityError).
 */
function rethrowIfDestination(err: unknown, target: StorageTarget): void {
  if (err instanceof IntegrityError) return;
  if (err instanceof StorageError && err.target === target.name) throw err;
}

/**
 * Writes the manifest of each corrupt copy on the target again when it reads bad, and its listing
 * segments that read bad (from Postgres): the manifest bytes the catalog writes, or, when the catalog kept another sha256 (written by an older version), the
 * bytes of another target's copy that hash to it. Delete, then put: manifests are write-once.
 */
async function rewriteBadManifests(rt: Runtime, target: StorageTarget, ctx: JobContext): Promise<number> {
  const checks = new CopyChecks(rt.pool, rt.clock);
  let rewritten = 0;
  for (const { backupId } of await checks.corruptCopies(target.name)) {
    ctx.signal.throwIfAborted();
    const detail = await rt.backups.detail(backupId);
    const recorded = await checks.manifestSha(backupId, target.name);
    const check = await checkManifest(rt.pool, target, detail, recorded);
    const { host } = detail.backup;
    // A listing segment is content-addressed: its bytes, kept in Postgres, are the good ones.
    const bad = new Set(check.badSegments.map((s) => s.sha256));
    const kept = bad.size ? await new ListingStore(rt.pool).chain(backupId) : [];
    for (const segment of kept) {
      if (!bad.delete(segment.sha256)) continue; // good, or put back already
      const key = listingKey(host, segment.sha256);
      await target.delete(key);
      await putSegment(target, key, segment);
      await new RotFindings(rt.pool, rt.clock).healed(target.name, '', key, 'catalog');
      rewritten++;
    }
    const segmentKeys = new Set(check.badSegments.map((s) => listingKey(host, s.sha256)));
    if (check.problems.every((p) => segmentKeys.has(p.path))) continue;
    const good = await goodManifestBytes(rt, detail, target.name, recorded);
    if (!good) {
      ctx.log.error(
        { backupId },
        'no good bytes for this manifest: the catalog changed since it was written',
      );
      continue;
    }
    const key = manifestKey(detail.backup.host, detail.backup.key);
    await target.delete(key);
    await target.put(key, Readable.from([good.bytes]), { sha256: good.sha256, size: good.bytes.length });
    if (!recorded) await checks.recordManifest(backupId, target.name, good.sha256);
    await new RotFindings(rt.pool, rt.clock).healed(target.name, '', key, good.from);
    rewritten++;
  }
  return rewritten;
}

async function goodManifestBytes(
  rt: Runtime,
  detail: BackupDetail,
  target: string,
  recorded: string | null,
): Promise<{ bytes: Buffer; sha256: string; from: string } | null> {
  const rebuilt = await catalogManifest(rt.pool, detail, target, recorded);
  if (rebuilt) return { ...rebuilt, from: 'catalog' };
  const key = manifestKey(detail.backup.host, detail.backup.key);
  for (const c of detail.copies) {
    if (c.target === target || c.target === LOCAL_COPY || c.status !== 'verified') continue;
    const bytes = await readObject(rt.targets.get(c.target), key).catch(() => null);
    if (bytes && sha256Hex(bytes) === recorded) return { bytes, sha256: recorded, from: c.target };
  }
  return null;
}

/** Reads again, in full, each corrupt copy on the target none of whose blobs is still marked bad. */
async function reverifyCorrupt(rt: Runtime, target: StorageTarget, ctx: JobContext): Promise<number> {
  const checks = new CopyChecks(rt.pool, rt.clock);
  let n = 0;
  for (const { backupId } of await checks.corruptCopies(target.name)) {
    const detail = await rt.backups.detail(backupId);
    const shas = [...new Set(detail.files.map((f) => storedBlob(f).sha256))];
    if ((await checks.badAmong(target.name, shas)).size > 0) continue;
    // No repair from here: what still reads bad after a repair waits for a person or a new backup.
    await recheckTargetCopy(rt, backupId, target.name, {
      by: 'verify',
      log: ctx.log,
      signal: ctx.signal,
      repair: false,
    });
    n++;
  }
  return n;
}

/**
 * repair-from-local (agent): uploads again, from this host's verified local copies, the blobs
 * marked bad on a target that no other target held good, then queues a full read of each copy
 * on that target they heal. A local file whose bytes are bad too (the put refuses them) gets
 * its local copy checked and healed.
 */
export async function repairFromLocal(
  env: AgentEnv,
  data: JobData<'repair-from-local'>,
  ctx: JobContext,
): Promise<void> {
  const { rt } = env;
  const target = rt.targets.forAgent(data.target);
  const checks = new CopyChecks(rt.pool, rt.clock);
  const local = new LocalChecks(rt.pool, rt.clock);
  const healed: string[] = [];
  for (const blob of await checks.badBlobs(target.name)) {
    ctx.signal.throwIfAborted();
    const whole = await local.verifiedHolder(env.host, blob.sha256);
    // A chunk of a large file is the range of the local file it was cut from.
    const chunk = whole ? null : await local.verifiedChunkHolder(env.host, blob.sha256);
    const holder = whole ?? chunk?.file;
    if (!holder) continue;
    assertOwnHost(env, await rt.backups.require(holder.backupId));
    const range = chunk ? { start: chunk.offset, end: chunk.offset + chunk.size - 1 } : {};
    const from: BlobSource = {
      name: LOCAL_COPY,
      // Opened before the put, so a missing file fails here and not as the target's upload error.
      open: async () =>
        (await open(localPath(env.backupRoot, holder), 'r')).createReadStream({
          highWaterMark: 1 << 20,
          ...range,
        }),
    };
    try {
      if ((await replaceBadBlob(rt, target, blob, from, ctx.signal)) === 'replaced') healed.push(blob.sha256);
    } catch (err) {
      rethrowIfDestination(err, target);
      ctx.log.warn(
        { err, blob: blob.sha256, file: holder.path },
        'the local file does not hold good bytes either',
      );
      await rt.queues.add('verify-local', { backupId: holder.backupId, host: env.host, by: 'verify' });
    }
  }
  const again = new Set<string>();
  for (const sha of healed) {
    for (const h of await checks.holding(target.name, sha)) if (h.status === 'corrupt') again.add(h.backupId);
  }
  for (const backupId of again) {
    const { host } = await rt.backups.require(backupId);
    await rt.queues.add('verify-copy', { backupId, host, target: target.name });
  }
  ctx.log.info(
    { target: target.name, healed: healed.length, reverify: again.size },
    'blobs uploaded again from the local copy',
  );
}
