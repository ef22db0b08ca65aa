import { PermanentFailure } from '@fleet-backup/core';
import type { BlobCandidate } from '@fleet-backup/db';
import {
  BLOBS_PREFIX,
  HOSTS_PREFIX,
  listAll,
  NotFoundError,
  parseBlobKey,
  parseManifestKey,
  readListedManifest,
  type StorageTarget,
} from '@fleet-backup/storage';

export interface ManifestMarks {
  /** sha256s referenced by manifests Postgres does not account for. */
  refs: Set<string>;
  /** Manifests on the target, and how many of them Postgres does not account for. */
  manifests: number;
  foreign: number;
}

/**
 * The mark phase against the bucket itself. Manifests of backups Postgres knows as not ended
 * need no reading: their references are in backup_files. Every other manifest (another
 * installation's, one Postgres lost after a restore from an older dump, one a failed removal left)
 * is read, and what it references is protected. A manifest that cannot be read stops gc on this
 * target: it cannot know which blobs that manifest needs.
 */
export async function markFromManifests(target: StorageTarget, live: Set<string>): Promise<ManifestMarks> {
  const marks: ManifestMarks = { refs: new Set(), manifests: 0, foreign: 0 };
  for await (const obj of listAll(target, HOSTS_PREFIX)) {
    const parsed = parseManifestKey(obj.key);
    if (!parsed) continue;
    marks.manifests++;
    if (live.has(`${parsed.host}/${parsed.backupKey}`)) continue;
    marks.foreign++;
    try {
      const manifest = await readListedManifest(target, parsed.host, parsed.backupKey);
      for (const f of Object.values(manifest.files)) {
        marks.refs.add(f.storedSha256 ?? f.sha256);
        for (const chunk of f.chunks ?? []) marks.refs.add(chunk);
      }
    } catch (err) {
      if (err instanceof NotFoundError) continue; // removed since the listing: it references nothing now
      if ((err as { transient?: unknown }).transient === true) throw err; // the job retries
      throw new PermanentFailure(
        `gc: manifest ${obj.key} on target ${target.name} cannot be read (${(err as Error).message}); ` +
          'nothing is deleted on that target until it is repaired or removed',
        { target: target.name, key: obj.key },
        { cause: err },
      );
    }
  }
  return marks;
}

/** Every blob on the target, from a listing, a page at a time; keys that are not blobs are left alone. */
export async function* listedBlobs(target: StorageTarget, pageSize = 500): AsyncGenerator<BlobCandidate[]> {
  let page: BlobCandidate[] = [];
  for await (const obj of listAll(target, BLOBS_PREFIX)) {
    const sha256 = parseBlobKey(obj.key);
    if (sha256 === undefined) continue;
    page.push({ sha256, size: obj.size });
    if (page.length >= pageSize) {
      yield page;
      page = [];
    }
  }
  if (page.length) yield page;
}
