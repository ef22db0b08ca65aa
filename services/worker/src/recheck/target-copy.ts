import {
  type BackupDetail,
  CopyChecks,
  ListingStore,
  type RotFinder,
  RotFindings,
  type StoredBlob,
  storedBlob,
} from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';
import { blobKey, listingKey, manifestKey, type ReadOnlyTarget, readOnly } from '@fleet-backup/storage';
import type { Logger } from 'pino';
import type { CopyProblem } from './blob-read.ts';
import { type BlobToRead, confirmPresent, readBlobsBack } from './blob-reads.ts';
import { markCopiesCorrupt, markHoldersCorrupt } from './holders.ts';
import { checkManifest, type ManifestCheck } from './manifest-check.ts';
import { type Settled, settleCopy } from './settle.ts';

/** What reading one target copy back in full found. */
export interface TargetRead {
  problems: CopyProblem[];
  /** Blobs that read bad, with the backup's files they hold. */
  bad: { blob: StoredBlob; problem: string; paths: string[] }[];
  /** sha256 of each blob that read good. */
  good: string[];
  manifest: ManifestCheck;
  checkedFiles: number;
  /** Bytes of blobs read back now. */
  checkedBytes: number;
  /** Bytes of blobs not read again: read good within the window, and confirmed still there. */
  vouchedBytes: number;
  /** When the read began: a blob healed after it was read bad by a stale read. */
  startedAt: Date;
}

/**
 * Reads a backup's copy on one target: the whole manifest, and every blob once. With `readSince`
 * (the verify stage), a blob read good since then is not read again, only confirmed present: a
 * daily then reads back what changed, and the rolling re-read keeps every stored byte read within
 * the window (restic's check --read-data-subset idea).
 */
export async function readTargetCopy(
  rt: Runtime,
  detail: BackupDetail,
  target: ReadOnlyTarget,
  signal?: AbortSignal,
  readSince?: Date,
): Promise<TargetRead> {
  const startedAt = rt.clock.now();
  const recorded = await new CopyChecks(rt.pool, rt.clock).manifestSha(detail.backup.id, target.name);
  const manifest = await checkManifest(rt.pool, target, detail, recorded, {
    now: startedAt,
    ...(readSince && { since: readSince }),
  });
  const blobs = new Map<string, { blob: StoredBlob; paths: string[] }>();
  for (const f of detail.files) {
    // The blob is what was stored: for an encrypted file, its ciphertext (no key is needed here).
    const blob = storedBlob(f);
    const seen = blobs.get(blob.sha256);
    if (seen) seen.paths.push(f.path);
    else blobs.set(blob.sha256, { blob, paths: [f.path] });
  }
  const read: TargetRead = {
    problems: [...manifest.problems],
    bad: [],
    good: [],
    manifest,
    checkedFiles: detail.files.length,
    checkedBytes: 0,
    vouchedBytes: 0,
    startedAt,
  };
  const wanted = await storedPieces(rt, target.name, blobs);
  const shas = [...wanted.keys()];
  const readGood = readSince
    ? await new CopyChecks(rt.pool, rt.clock).readGoodSince(target.name, shas, readSince)
    : new Set<string>();
  const toRead: BlobToRead[] = [];
  const vouched: BlobToRead[] = [];
  for (const [sha, piece] of wanted) {
    blobs.set(sha, piece);
    (readGood.has(sha) ? vouched : toRead).push(piece);
  }
  const parallel = rt.config.targetParallelRequests;
  const found = (counted: 'checkedBytes' | 'vouchedBytes') => (blob: StoredBlob, problem: string | null) => {
    if (!problem) {
      if (counted === 'checkedBytes') read.good.push(blob.sha256);
      read[counted] += blob.size;
      return;
    }
    const paths = blobs.get(blob.sha256)?.paths ?? [];
    read.bad.push({ blob, problem, paths });
    for (const path of paths) read.problems.push({ path, problem });
  };
  const opts = { signal, placesNow: (shas: string[]) => rt.blobs.places(target.name, shas) };
  await readBlobsBack(target, toRead, parallel, found('checkedBytes'), opts);
  await confirmPresent(target, vouched, parallel, found('vouchedBytes'), opts);
  return read;
}

/**
 * Records what a read found: each blob's read time or bad mark, the manifest's hash (kept from
 * now on when none was), and a rot finding per bad object. True when something bad was not
 * known before, so a repair is worth asking for.
 */
/**
 * What is stored for these blobs on the target, each with the files it holds: a blob in a pack or
 * of its own, or, for a large file stored in chunks, each of its chunks (read, vouched for, marked
 * bad and healed like any blob).
 */
async function storedPieces(
  rt: Runtime,
  target: string,
  blobs: Map<string, { blob: StoredBlob; paths: string[] }>,
): Promise<Map<string, BlobToRead & { paths: string[] }>> {
  const places = await rt.blobs.places(target, [...blobs.keys()]);
  const pieces = new Map<string, BlobToRead & { paths: string[] }>();
  for (const [sha, { blob, paths }] of blobs) {
    const place = places.get(sha) ?? undefined;
    if (!place || !('chunks' in place)) {
      pieces.set(sha, { blob, place, paths });
      continue;
    }
    for (const c of place.chunks) {
      const seen = pieces.get(c.sha256);
      if (seen) seen.paths.push(...paths);
      else
        pieces.set(c.sha256, {
          blob: { sha256: c.sha256, size: c.length },
          place: c.place ?? undefined,
          paths: [...paths],
        });
    }
  }
  return pieces;
}

export async function recordTargetRead(
  rt: Runtime,
  detail: BackupDetail,
  target: string,
  read: TargetRead,
  by: RotFinder,
): Promise<boolean> {
  const checks = new CopyChecks(rt.pool, rt.clock);
  await dropStaleVerdicts(checks, target, read);
  const findings = new RotFindings(rt.pool, rt.clock);
  const { id: backupId, host } = detail.backup;
  // Within half the re-check window a blob's last good read stands: it stays well inside the window.
  const halfWindowMs = (rt.config.recheckWindowDays * 86_400_000) / 2;
  await checks.blobsGood(target, read.good, undefined, new Date(rt.clock.now().getTime() - halfWindowMs));
  let news = false;
  for (const { blob, problem } of read.bad) {
    if (await checks.blobBad(target, blob, problem)) news = true;
    await findings.record({
      copy: target,
      host,
      backupId,
      object: blobKey(blob.sha256),
      problem,
      foundBy: by,
    });
    // The other backups holding this blob on the target are spoiled too (this one the caller settles).
    await markHoldersCorrupt(rt, target, { blob, problem }, by, backupId);
  }
  if (await recordManifestFindings(rt, detail.backup, target, read.manifest, by)) news = true;
  else if (read.manifest.sha256 && !(await checks.manifestSha(backupId, target))) {
    await checks.recordManifest(backupId, target, read.manifest.sha256);
  }
  return news;
}

/**
 * Records what a manifest check found: a finding on the manifest for its own problem, and one per
 * bad listing segment, which spoils too every other copy on the target whose chain lists it. True
 * when it found anything.
 */
export async function recordManifestFindings(
  rt: Runtime,
  { id: backupId, host, key }: Pick<BackupDetail['backup'], 'id' | 'host' | 'key'>,
  target: string,
  check: ManifestCheck,
  by: RotFinder,
): Promise<boolean> {
  const findings = new RotFindings(rt.pool, rt.clock);
  const segmentKeys = new Set(check.badSegments.map((s) => listingKey(host, s.sha256)));
  const manifestProblem = check.problems.find((p) => !segmentKeys.has(p.path));
  if (manifestProblem) {
    const object = manifestKey(host, key);
    await findings.record({
      copy: target,
      host,
      backupId,
      object,
      problem: manifestProblem.problem,
      foundBy: by,
    });
  }
  for (const s of check.badSegments) {
    const object = listingKey(host, s.sha256);
    const problem = check.problems.find((p) => p.path === object)?.problem ?? 'listing segment bad';
    await findings.record({ copy: target, host, backupId, object, problem, foundBy: by });
    const holders = await new ListingStore(rt.pool).holding(target, s.sha256);
    await markCopiesCorrupt(rt, target, holders, { object, problem }, by, backupId);
  }
  return check.problems.length > 0;
}

/**
 * Forgets what the read found bad in blobs a repair (or another read) found good after this read
 * began: the read saw the bytes before they were put back, checked, by the repair. Recorded, its
 * verdict would mark good bytes bad and open a finding no repair is left to heal (seen in CI: a
 * repair's re-read of a copy, begun before a second repair healed the blob, recorded it 1 ms after
 * the heal). A blob that rots again within those seconds is found by the next read.
 */
export async function dropStaleVerdicts(checks: CopyChecks, target: string, read: TargetRead): Promise<void> {
  const after = new Date(read.startedAt.getTime() + 1);
  const healed = await checks.readGoodSince(
    target,
    read.bad.map((b) => b.blob.sha256),
    after,
  );
  if (healed.size === 0) return;
  read.bad = read.bad.filter((b) => !healed.has(b.blob.sha256));
  read.problems = [
    ...read.manifest.problems,
    ...read.bad.flatMap((b) => b.paths.map((path) => ({ path, problem: b.problem }))),
  ];
}

export interface RecheckOptions {
  by: RotFinder;
  log: Logger;
  signal?: AbortSignal;
  /** Queue a repair of the target when something newly bad is found (not from a repair itself). */
  repair: boolean;
  /** The pipeline's verify stage, which finishes in the same transaction. */
  finishStage?: boolean;
}

export interface RecheckResult {
  settled: Settled | null;
  problems: CopyProblem[];
  checkedBytes: number;
}

/**
 * Reads a backup's copy on one target back in full and settles it: verified, or corrupt with its
 * problems, the backup's status and 3-2-1 recomputed, the host's backup_metadata.json refreshed
 * when that changed, and a repair queued for what is newly found bad.
 */
export async function recheckTargetCopy(
  rt: Runtime,
  backupId: string,
  targetName: string,
  opts: RecheckOptions,
): Promise<RecheckResult> {
  const target = readOnly(rt.targets.get(targetName));
  const detail = await rt.backups.detail(backupId);
  const read = await readTargetCopy(rt, detail, target, opts.signal);
  const news = await recordTargetRead(rt, detail, target.name, read, opts.by);
  const settled = await settleCopy(rt, {
    backupId,
    copy: target.name,
    problems: read.problems,
    detail: { checkedFiles: read.checkedFiles, checkedBytes: read.checkedBytes, by: opts.by },
    finishStage: opts.finishStage ?? false,
  });
  rt.metrics.bytesVerified.inc({ target: target.name }, read.checkedBytes);
  await new CopyChecks(rt.pool, rt.clock).noteReadBack(target.name, read.checkedBytes + read.manifest.bytes);
  const fields = { target: target.name, backupId, key: detail.backup.key, by: opts.by };
  if (read.problems.length)
    opts.log.error({ ...fields, problems: read.problems.slice(0, 10) }, 'copy is corrupt');
  else opts.log.info(fields, settled?.previous === 'corrupt' ? 'copy verified again' : 'copy verified');
  // The verify stage asks for the refresh itself, whatever happened (a redelivery too).
  if (settled && settled.status !== settled.previous && !opts.finishStage) {
    await rt.queues.add('refresh-metadata', { host: settled.host, backupId });
  }
  if (settled?.status === 'corrupt')
    await followUpCorrupt(
      rt,
      { backupId, host: detail.backup.host, target: target.name },
      read,
      news && opts.repair,
    );
  return { settled, problems: read.problems, checkedBytes: read.checkedBytes };
}

/**
 * What a copy just settled corrupt needs next: a repair when the read found something not known
 * bad before (`repair`). Otherwise, when every blob it read bad has been healed meanwhile (a repair
 * of the same blob from another copy's read, running beside this one), another read of the copy:
 * that repair already looked for corrupt copies to read again, before this one was marked.
 */
export async function followUpCorrupt(
  rt: Runtime,
  copy: { backupId: string; host: string; target: string },
  read: TargetRead,
  repair: boolean,
): Promise<void> {
  if (repair) {
    await rt.queues.add('repair', { target: copy.target });
    return;
  }
  const bad = read.bad.map((b) => b.blob.sha256);
  if (bad.length && (await new CopyChecks(rt.pool, rt.clock).badAmong(copy.target, bad)).size === 0)
    await rt.queues.add('verify-copy', copy);
}
