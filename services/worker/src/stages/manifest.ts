import type { FileAttributes, TreeNode } from '@fleet-backup/core';
import { type BackupDetail, type BlobChunk, seedEntry, storedBlob } from '@fleet-backup/db';
import { MANIFEST_FORMAT, type Manifest, type ManifestNode } from '@fleet-backup/storage';

/**
 * How a manifest is laid out. `current`: the seed entry without its files, which would repeat
 * every path and sha256 far from the first (gzip cannot share them: about 43% of a stored
 * manifest). `entry-files`: the seed entry whole, as manifests were written before 2026-12-07,
 * rebuilt only to check or rewrite such a copy byte for byte.
 */
export type ManifestForm = 'current' | 'entry-files';
export const MANIFEST_FORMS: readonly ManifestForm[] = ['current', 'entry-files'];

/**
 * A backup's manifest: every stored path with its source path, size and sha256 (and a large
 * file's chunk list), plus the seed entry as captured. Built only from what does not change after
 * the snapshot, so a retried replicate writes identical bytes (manifests are written once).
 */
export function buildManifest(
  { backup, files, nodes }: BackupDetail,
  chunkLists: ReadonlyMap<string, BlobChunk[]>,
  form: ManifestForm = 'current',
): Manifest {
  const whole = form === 'entry-files';
  const entries: Manifest['files'] = {};
  for (const f of files) {
    const e = f.encrypted;
    const chunks = chunkLists.get(storedBlob(f).sha256);
    entries[f.storedPath] = {
      path: f.path,
      size: f.size,
      sha256: f.sha256,
      // Enough for a restore from the bucket alone to find the blob and the key that opens it.
      ...(e && { storedSha256: e.sha256, storedSize: e.size, keyId: e.keyId }),
      ...(f.pathBytes && { pathBytes: f.pathBytes.toString('base64') }),
      ...(f.attrs && { attrs: manifestAttrs(f.attrs) }),
      // A large file's chunks, in order: a restore from the bucket alone finds each in the packs.
      ...(chunks && { chunks: chunks.map((c) => c.sha256) }),
      // The one field of the seed entry's files the rest of the manifest does not say.
      ...(!whole && f.cls === 'database' && { hasWal: f.hasWal ?? false }),
    };
  }
  const { files: entryFiles, ...entryHead } = seedEntry(
    { ...backup, lifecycle: null, changeVerifiedBy: null, changeVerifiedAt: null },
    whole ? files : [],
    false,
  );
  return {
    format: MANIFEST_FORMAT,
    host: backup.host,
    kind: backup.kind,
    key: backup.key,
    created: backup.createdAt.toISOString(),
    files: entries,
    ...(nodes.length > 0 && { nodes: Object.fromEntries(nodes.map((n) => [n.path, manifestNode(n)])) }),
    entry: whole ? { ...entryHead, files: entryFiles } : entryHead,
  };
}

function manifestNode(n: TreeNode): ManifestNode {
  return {
    type: n.type,
    ...(n.target !== null && { target: n.target }),
    ...(n.pathBytes && { pathBytes: n.pathBytes.toString('base64') }),
    ...(n.targetBytes && { targetBytes: n.targetBytes.toString('base64') }),
    attrs: manifestAttrs(n.attrs),
  };
}

/** Only the fields the manifest schema knows, so the same attributes always serialise the same. */
function manifestAttrs(a: FileAttributes): FileAttributes {
  const { mode, uid, gid, owner, group, mtimeNs, xattrs } = a;
  return { mode, uid, gid, owner, group, mtimeNs, ...(xattrs && { xattrs }) };
}
