import { type BackupDetail, seedEntry } from '@fleet-backup/db';
import { MANIFEST_FORMAT, type Manifest } from '@fleet-backup/storage';

/**
 * A backup's manifest: every stored path with its source path, size and sha256, plus the seed
 * entry as captured. Built only from what does not change after the snapshot, so a retried
 * replicate writes identical bytes (manifests are written once).
 */
export function buildManifest({ backup, files }: BackupDetail): Manifest {
  const entries: Manifest['files'] = {};
  for (const f of files) {
    const e = f.encrypted;
    entries[f.storedPath] = {
      path: f.path,
      size: f.size,
      sha256: f.sha256,
      // Enough for a restore from the bucket alone to find the blob and the key that opens it.
      ...(e && { storedSha256: e.sha256, storedSize: e.size, keyId: e.keyId }),
    };
  }
  return {
    format: MANIFEST_FORMAT,
    host: backup.host,
    kind: backup.kind,
    key: backup.key,
    created: backup.createdAt.toISOString(),
    files: entries,
    entry: seedEntry(
      { ...backup, lifecycle: null, changeVerifiedBy: null, changeVerifiedAt: null },
      files,
      false,
    ),
  };
}
