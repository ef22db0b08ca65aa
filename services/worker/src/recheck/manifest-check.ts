import { createHash } from 'node:crypto';
import {
  type BackupDetail,
  type ChainLink,
  ChunkLists,
  type FileRow,
  ListingStore,
  type Pool,
  storedBlob,
} from '@fleet-backup/db';
import {
  listingKey,
  type Manifest,
  manifestKey,
  manifestText,
  NotFoundError,
  parseManifest,
  type ReadOnlyTarget,
  readObject,
  StorageError,
  serializeManifest,
} from '@fleet-backup/storage';
import { buildManifest, MANIFEST_FORMS } from '../stages/manifest.ts';
import type { CopyProblem } from './blob-read.ts';

export const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * The manifest bytes the catalog writes for a backup (replicate writes exactly these), then those
 * it wrote in each earlier form; the chunk lists and chain are read once for all of them. The
 * listing form only for a backup with a chain (every backup replicated since chains exist).
 */
async function* catalogForms(pool: Pool, detail: BackupDetail, target: string): AsyncGenerator<Buffer> {
  const key = manifestKey(detail.backup.host, detail.backup.key);
  const lists = await new ChunkLists(pool).of(detail.files.map((f) => storedBlob(f).sha256));
  const chain = (await new ListingStore(pool).links(detail.backup.id)).map((s) => s.sha256);
  for (const form of MANIFEST_FORMS) {
    if (form === 'listing' && chain.length === 0) continue;
    yield serializeManifest(buildManifest(detail, lists, form, chain), { target, key });
  }
}

/**
 * The catalog's bytes for a copy's manifest: in the form whose sha256 was recorded when it was
 * written, in the current form when none was; null when no form gives the recorded bytes (the
 * catalog changed since).
 */
export async function catalogManifest(
  pool: Pool,
  detail: BackupDetail,
  target: string,
  recorded: string | null,
): Promise<{ bytes: Buffer; sha256: string } | null> {
  for await (const bytes of catalogForms(pool, detail, target)) {
    const sha256 = sha256Hex(bytes);
    if (!recorded || recorded === sha256) return { bytes, sha256 };
  }
  return null;
}

export interface ManifestCheck {
  /** Problems of the manifest (its key, or a file it lists wrong) and of its listing segments (their keys). */
  problems: CopyProblem[];
  /** The backup's listing segments that read bad: a repair puts them again from Postgres. */
  badSegments: ChainLink[];
  /** sha256 of the bytes read; null when there were none to read. */
  sha256: string | null;
  /** Bytes read (egress: a copy's read counts its manifest too). */
  bytes: number;
}

/**
 * Reads a target copy's manifest and checks all of it, byte for byte: against the sha256 the
 * catalog kept when it was written, or (for a copy written before that was kept) against the
 * bytes the catalog would write now. Then, when they are not the bytes written, entry by entry
 * against the metadata, to name what differs. A target that cannot be reached throws.
 */
export async function checkManifest(
  pool: Pool,
  target: ReadOnlyTarget,
  detail: BackupDetail,
  recordedSha: string | null,
  reads?: SegmentReads,
): Promise<ManifestCheck> {
  const key = manifestKey(detail.backup.host, detail.backup.key);
  let bytes: Buffer;
  try {
    bytes = await readObject(target, key);
  } catch (err) {
    if (err instanceof NotFoundError) return unreadable(pool, target, detail, 'manifest missing', reads);
    if (err instanceof StorageError && !err.transient)
      return unreadable(pool, target, detail, `manifest unreadable: ${err.message}`, reads);
    throw err;
  }
  const sha256 = sha256Hex(bytes);
  const problems: CopyProblem[] = [];
  if (recordedSha !== null && sha256 !== recordedSha)
    problems.push({
      path: key,
      problem: `manifest bytes differ from those written (sha256 ${sha256}, recorded ${recordedSha})`,
    });
  if (recordedSha === null && !(await catalogWrites(pool, detail, target.name, bytes)))
    problems.push({
      path: key,
      problem: `manifest differs from what the catalog would write (sha256 ${sha256})`,
    });
  // The very bytes written from the catalog's rows list those rows: parsing a manifest of 20,000
  // files again (its JSON, a validated copy and its text) was most of a pool worker's peak.
  if (sha256 !== recordedSha) problems.push(...entryProblems(target, detail, bytes, key));
  const segments = await checkSegments(pool, target, detail, reads);
  problems.push(...segments.problems);
  return { problems, badSegments: segments.badSegments, sha256, bytes: bytes.length + segments.bytes };
}

/**
 * How a check treats listing segments: `now`, to note the segments read whole and good; with
 * `since` (verify), a segment read good since then is only confirmed present (a head), as blobs
 * are: a daily reads its own new segment, and the rolling re-read keeps the others read.
 */
export interface SegmentReads {
  now: Date;
  since?: Date;
}

/**
 * Reads each of the backup's listing segments on the target whole (its bytes must hash to its
 * name), or, with `reads.since`, confirms one read good since then is there at its size.
 */
async function checkSegments(
  pool: Pool,
  target: ReadOnlyTarget,
  { backup }: BackupDetail,
  reads?: SegmentReads,
): Promise<Pick<ManifestCheck, 'problems' | 'badSegments' | 'bytes'>> {
  const store = new ListingStore(pool);
  const chain = [...new Map((await store.links(backup.id)).map((c) => [c.sha256, c])).values()];
  const fresh = reads?.since
    ? await store.readGoodSince(
        target.name,
        chain.map((s) => s.sha256),
        reads.since,
      )
    : new Set<string>();
  const found: Pick<ManifestCheck, 'problems' | 'badSegments' | 'bytes'> = {
    problems: [],
    badSegments: [],
    bytes: 0,
  };
  const good: string[] = [];
  for (const s of chain) {
    const key = listingKey(backup.host, s.sha256);
    let problem: string;
    try {
      if (fresh.has(s.sha256)) {
        const { size } = await target.head(key);
        if (size === s.size) continue;
        problem = `listing segment size differs (${size} bytes, written ${s.size})`;
      } else {
        const bytes = await readObject(target, key);
        found.bytes += bytes.length;
        const sha256 = sha256Hex(bytes);
        if (sha256 === s.sha256) {
          good.push(s.sha256);
          continue;
        }
        problem = `listing segment bytes differ (sha256 ${sha256})`;
      }
    } catch (err) {
      if (err instanceof NotFoundError) problem = 'listing segment missing';
      else if (err instanceof StorageError && !err.transient)
        problem = `listing segment unreadable: ${err.message}`;
      else throw err;
    }
    found.problems.push({ path: key, problem });
    found.badSegments.push(s);
  }
  if (reads) await store.readGood(target.name, good, reads.now);
  return found;
}

/** The check of a copy whose manifest could not be read: that problem, and its segments' own. */
async function unreadable(
  pool: Pool,
  target: ReadOnlyTarget,
  detail: BackupDetail,
  problem: string,
  reads?: SegmentReads,
): Promise<ManifestCheck> {
  const segments = await checkSegments(pool, target, detail, reads);
  const key = manifestKey(detail.backup.host, detail.backup.key);
  return { ...segments, problems: [{ path: key, problem }, ...segments.problems], sha256: null };
}

/**
 * For a copy written before its sha256 was kept, perhaps before manifests were compressed: whether
 * its JSON is the JSON the catalog writes, in one of the forms manifests have had.
 */
async function catalogWrites(pool: Pool, detail: BackupDetail, target: string, bytes: Buffer) {
  const key = manifestKey(detail.backup.host, detail.backup.key);
  const text = tryManifestText(bytes, target, key);
  if (!text) return false;
  const sha256 = sha256Hex(text);
  for await (const rebuilt of catalogForms(pool, detail, target))
    if (sha256Hex(manifestText(rebuilt, { target, key })) === sha256) return true;
  return false;
}

function tryManifestText(bytes: Buffer, target: string, key: string): Buffer | null {
  try {
    return manifestText(bytes, { target, key });
  } catch {
    return null;
  }
}

/** Entry by entry: which files the manifest lists differently from the metadata. */
function entryProblems(
  target: ReadOnlyTarget,
  { files }: BackupDetail,
  bytes: Buffer,
  key: string,
): CopyProblem[] {
  let manifest: Manifest;
  try {
    manifest = parseManifest(bytes, { target: target.name, key });
  } catch (err) {
    return [{ path: key, problem: `manifest unreadable: ${(err as Error).message}` }];
  }
  // Its files are in its segments, read on their own; that its bytes differ is the problem.
  if (manifest.listing) return [];
  const problems: CopyProblem[] = [];
  for (const f of files) {
    const m = manifest.files[f.storedPath];
    if (!m || m.sha256 !== f.sha256 || m.size !== f.size || m.path !== f.path || !sameEncryption(m, f)) {
      problems.push({ path: f.path, problem: 'manifest entry missing or different from the metadata' });
    }
  }
  if (Object.keys(manifest.files).length !== files.length) {
    problems.push({ path: key, problem: 'manifest lists a different number of files' });
  }
  return problems;
}

/** The manifest names the same ciphertext blob and key as the metadata, or neither does. */
function sameEncryption(m: Manifest['files'][string], f: FileRow): boolean {
  const e = f.encrypted;
  if (!e) return m.keyId === undefined;
  const blob = storedBlob(f);
  return m.storedSha256 === blob.sha256 && m.storedSize === blob.size && m.keyId === e.keyId;
}
