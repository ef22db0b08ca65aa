import { CopyChecks } from '@fleet-backup/db';
import type { JobContext, JobData, VerifyCopyResult } from '@fleet-backup/queue';
import type { Runtime } from '@fleet-backup/runtime';
import type { StorageTarget } from '@fleet-backup/storage';
import { readBlobsBack } from '../recheck/blob-reads.ts';
import { markCorrupt, markHoldersCorrupt } from '../recheck/holders.ts';
import { checkManifest } from '../recheck/manifest-check.ts';
import { recheckTargetCopy, recordManifestFindings } from '../recheck/target-copy.ts';

/**
 * verify-copy (pool): reads one target copy back in full and settles it (queued after a repair,
 * and by `fleet-backup verify`, which reads the result off the job).
 */
export async function verifyCopy(
  rt: Runtime,
  data: JobData<'verify-copy'>,
  ctx: JobContext,
): Promise<VerifyCopyResult> {
  const read = await recheckTargetCopy(rt, data.backupId, data.target, {
    by: data.by ?? 'verify',
    log: ctx.log,
    signal: ctx.signal,
    repair: true,
  });
  return { status: read.settled?.status ?? null, problems: read.problems };
}

/**
 * recheck (pool): today's slice of the rolling re-read of one target: about 1/RECHECK_WINDOW_DAYS
 * of its blobs (by bytes) and of its verified copies' manifests (by count), oldest read first. A
 * blob that reads bad is marked (replicate then never trusts it), every kept backup holding it
 * loses its verified copy there, and a repair of the target is queued.
 */
export async function recheckTarget(rt: Runtime, data: JobData<'recheck'>, ctx: JobContext): Promise<void> {
  const target = rt.targets.get(data.target);
  const checks = new CopyChecks(rt.pool, rt.clock);
  const window = rt.config.recheckWindowDays;
  let news = false;
  const blobs = await checks.blobSlice(target.name, window);
  const good: string[] = [];
  let bad = 0;
  const places = await rt.blobs.places(
    target.name,
    blobs.map((b) => b.sha256),
  );
  const wanted = blobs.map((blob) => ({ blob, place: places.get(blob.sha256) ?? undefined }));
  await readBlobsBack(
    target,
    wanted,
    rt.config.targetParallelRequests,
    async (blob, problem) => {
      if (!problem) {
        good.push(blob.sha256);
        if (good.length >= 500) await checks.blobsGood(target.name, good.splice(0));
        return;
      }
      bad++;
      if (await checks.blobBad(target.name, blob, problem)) news = true;
      await markHoldersCorrupt(rt, target.name, { blob, problem }, 'recheck');
    },
    { signal: ctx.signal, placesNow: (shas) => rt.blobs.places(target.name, shas) },
  );
  await checks.blobsGood(target.name, good);
  const manifests = await checks.manifestSlice(target.name, window);
  let badManifests = 0;
  for (const due of manifests) {
    ctx.signal.throwIfAborted();
    if (!(await manifestReadsGood(rt, target, due.backupId))) badManifests++;
  }
  if (news || badManifests) await rt.queues.add('repair', { target: target.name });
  const readBytes = blobs.reduce((n, b) => n + b.size, 0);
  rt.metrics.bytesVerified.inc({ target: target.name }, readBytes);
  await checks.noteReadBack(target.name, readBytes);
  const summary = {
    target: target.name,
    blobs: blobs.length,
    bad,
    manifests: manifests.length,
    badManifests,
  };
  if (bad || badManifests) ctx.log.error(summary, 'rolling re-read found rot; a repair is queued');
  else ctx.log.info(summary, 'rolling re-read found nothing wrong');
}

/** Re-reads one verified copy's manifest; false (and the copy corrupt) when it reads bad. */
async function manifestReadsGood(rt: Runtime, target: StorageTarget, backupId: string): Promise<boolean> {
  const checks = new CopyChecks(rt.pool, rt.clock);
  const detail = await rt.backups.detail(backupId);
  const recorded = await checks.manifestSha(backupId, target.name);
  const check = await checkManifest(rt.pool, target, detail, recorded, { now: rt.clock.now() });
  if (check.problems.length === 0) {
    await checks.copyChecked(backupId, target.name);
    if (check.sha256 && !recorded) await checks.recordManifest(backupId, target.name, check.sha256);
    return true;
  }
  await recordManifestFindings(rt, detail.backup, target.name, check, 'recheck');
  await markCorrupt(rt, { backupId }, target.name, check.problems, 'recheck');
  return false;
}
