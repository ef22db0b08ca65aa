import { type BlobCandidate, BlobGcStore, type BlobVerdict } from '@fleet-backup/db';
import { blobKey, type StorageTarget } from '@fleet-backup/storage';
import type { Runtime } from '../runtime.ts';
import { listedBlobs, markFromManifests } from './gc-marks.ts';
import { gcPacks, type PackGcReport } from './gc-packs.ts';

const HOUR_MS = 3_600_000;
const PARALLEL_DELETES = 4;
const SWEEP_BATCH = 100;

export interface GcTargetReport {
  target: string;
  /** Blobs looked at: from Postgres' record of the target, or (scan) from listing it. */
  examined: number;
  /** Kept: a backup not yet ended, or a manifest Postgres does not account for, references them. */
  referenced: number;
  /** Unreferenced, but inside the grace period. */
  waiting: number;
  /** Deleted (or, in a dry run, that would be). */
  deleted: number;
  bytes: number;
  manifests: number;
  /** Manifests Postgres does not account for, read so that their blobs are kept. */
  foreignManifests: number;
  /** What happened to its packs. */
  packs?: PackGcReport;
  errors: string[];
}

export interface GcReport {
  at: string;
  dryRun: boolean;
  scan: boolean;
  graceHours: number;
  targets: GcTargetReport[];
}

/**
 * Blob garbage collection on every configured target. A blob is deleted only when no backup that
 * has not ended (running ones included) references it, no manifest outside Postgres' knowledge
 * references it, and the grace period has passed since it was stored, last referenced or first
 * seen. References are checked and blobs deleted under an exclusive lock that every snapshot
 * takes shared to add references, so no backup starts using a blob mid-sweep. `scan` takes the
 * candidates from listing the bucket instead of Postgres' record, to catch what the two disagree on.
 */
export async function runGc(rt: Runtime, opts: { dryRun?: boolean; scan?: boolean } = {}): Promise<GcReport> {
  const graceHours = rt.config.lifecycle.blobGraceHours;
  const report: GcReport = {
    at: rt.clock.now().toISOString(),
    dryRun: opts.dryRun ?? false,
    scan: opts.scan ?? false,
    graceHours,
    targets: [],
  };
  for (const name of rt.targets.names()) {
    report.targets.push(await gcTarget(rt, name, report, graceHours * HOUR_MS));
  }
  return report;
}

async function gcTarget(rt: Runtime, name: string, run: GcReport, graceMs: number): Promise<GcTargetReport> {
  const out: GcTargetReport = {
    target: name,
    examined: 0,
    referenced: 0,
    waiting: 0,
    deleted: 0,
    bytes: 0,
    manifests: 0,
    foreignManifests: 0,
    errors: [],
  };
  const store = new BlobGcStore(rt.pool, rt.clock);
  try {
    const target = rt.targets.get(name);
    const marks = await markFromManifests(target, await store.liveBackupKeys());
    out.manifests = marks.manifests;
    out.foreignManifests = marks.foreign;
    if (!run.dryRun) await store.clearSightings(name, [...marks.refs]);
    const pages = run.scan ? listedBlobs(target) : store.knownBlobs(name);
    for await (const page of pages) {
      out.examined += page.length;
      const candidates = page.filter((b) => !marks.refs.has(b.sha256));
      out.referenced += page.length - candidates.length;
      // Small batches: snapshots committing their file lists wait while a batch holds the lock.
      for (let i = 0; i < candidates.length; i += SWEEP_BATCH) {
        const verdicts = await store.sweep(name, candidates.slice(i, i + SWEEP_BATCH), graceMs, {
          dryRun: run.dryRun,
          remove: (deletable) => deleteBlobs(rt, target, deletable, out.errors),
        });
        tally(out, verdicts, run.dryRun);
      }
    }
    out.packs = await gcPacks(rt, target, {
      dryRun: run.dryRun,
      scan: run.scan,
      graceMs,
      protectedShas: marks.refs,
      errors: out.errors,
    });
  } catch (err) {
    out.errors.push((err as Error).message);
    rt.log.error({ target: name, err }, 'gc stopped on this target');
  }
  if (!run.dryRun) rt.log.info({ ...out, errors: out.errors.length }, 'gc: target swept');
  return out;
}

function tally(out: GcTargetReport, verdicts: BlobVerdict[], dryRun: boolean): void {
  for (const v of verdicts) {
    if (v.state === 'referenced') out.referenced++;
    else if (v.state === 'waiting') out.waiting++;
    else if (dryRun || v.deleted) {
      out.deleted++;
      out.bytes += v.size;
    }
  }
}

/** Deletes blobs, a few at a time; returns the sha256s that are gone. */
async function deleteBlobs(
  rt: Runtime,
  target: StorageTarget,
  blobs: BlobCandidate[],
  errors: string[],
): Promise<string[]> {
  const gone: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < blobs.length) {
      const blob = blobs[next++] as BlobCandidate;
      try {
        // A blob in a pack goes by forgetting its place; the pack goes when nothing points at it.
        if (!blob.pack) await target.delete(blobKey(blob.sha256));
        gone.push(blob.sha256);
      } catch (err) {
        errors.push(`${blobKey(blob.sha256)}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_DELETES, blobs.length) }, lane));
  if (gone.length) rt.log.info({ target: target.name, blobs: gone.length }, 'gc: blobs deleted');
  return gone;
}
