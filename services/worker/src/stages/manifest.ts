import type { FileAttributes, TreeNode } from '@fleet-backup/core';
import { type BackupDetail, type BlobChunk, seedEntry, storedBlob } from '@fleet-backup/db';
import { type Listing, MANIFEST_FORMAT, type Manifest, type ManifestNode } from '@fleet-backup/storage';

/**
 * How a manifest is laid out. `listing`: the files and nodes in listing segments (a chain, see
 * listing-chain.ts), as manifests are written since 2026-12-07. `inline`: in the manifest, with the
 * seed entry without its files, which would repeat every path and sha256 far from the first (gzip
 * cannot share them: about 43% of a stored manifest). `entry-files`: inline, with the seed entry
 * whole, as manifests were written before that. The older forms are rebuilt only to check or
 * rewrite such a copy byte for byte.
 */
export type ManifestForm = 'listing' | 'inline' | 'entry-files';
export const MANIFEST_FORMS: readonly ManifestForm[] = ['listing', 'inline', 'entry-files'];

/**
 * A backup's manifest: every stored path with its source path, size and sha256 (and a large
 * file's chunk list), plus the seed entry as captured; in the `listing` form, the sha256s of the
 * segments that list them (`chain`) instead. Built only from what does not change after the
 * snapshot, so a retried replicate writes identical bytes (manifests are written once).
 */
export function buildManifest(
  detail: BackupDetail,
  chunkLists: ReadonlyMap<string, BlobChunk[]>,
  form: ManifestForm,
  chain: readonly string[] = [],
): Manifest {
  const { backup, files } = detail;
  const whole = form === 'entry-files';
  if (form === 'listing' && chain.length === 0) throw new Error(`backup ${backup.id} has no listing chain`);
  const { files: entryFiles, ...entryHead } = seedEntry(
    { ...backup, lifecycle: null, changeVerifiedBy: null, changeVerifiedAt: null },
    whole ? files : [],
    false,
  );
  const listed =
    form === 'listing' ? { files: {}, listing: [...chain] } : inlineListing(detail, chunkLists, whole);
  return {
    format: MANIFEST_FORMAT,
    host: backup.host,
    kind: backup.kind,
    key: backup.key,
    created: backup.createdAt.toISOString(),
    ...listed,
    entry: whole ? { ...entryHead, files: entryFiles } : entryHead,
  };
}

/** The files and nodes as a manifest lists them; nodes are left out when there are none. */
function inlineListing(
  detail: BackupDetail,
  chunkLists: ReadonlyMap<string, BlobChunk[]>,
  whole: boolean,
): Pick<Manifest, 'files' | 'nodes'> {
  const { files, nodes } = backupListing(detail, chunkLists, whole);
  return { files, ...(Object.keys(nodes).length > 0 && { nodes }) };
}

/** A backup's files and nodes as its manifest or its listing segments list them. */
export function backupListing(
  { files, nodes }: BackupDetail,
  chunkLists: ReadonlyMap<string, BlobChunk[]>,
  whole = false,
): Listing {
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
  return { files: entries, nodes: Object.fromEntries(nodes.map((n) => [n.path, manifestNode(n)])) };
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
