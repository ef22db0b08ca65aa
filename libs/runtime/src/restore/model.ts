import type { FileAttributes, TreeNode } from '@fleet-backup/core';
import type { BackupDetail } from '@fleet-backup/db';
import type { Manifest, ManifestFile, ManifestNode } from '@fleet-backup/storage';

export interface RestoreFile {
  /** Source path without the leading slash, as in the metadata (a display form when `pathBytes` is set). */
  path: string;
  storedPath: string;
  size: number;
  sha256: string;
  /**
   * Set for a sensitive file: what is stored is the file encrypted, in the blob `sha256` of
   * `size` bytes, decrypted with key `keyId`. `size` and `sha256` above stay the plaintext's.
   */
  encrypted?: { sha256: string; size: number; keyId: string } | null;
  /** The raw path when it is not valid UTF-8: what is written, byte for byte. */
  pathBytes?: Buffer | null;
  /** Mode, owner, mtime and xattrs to give the file; absent for backups taken before they were recorded. */
  attrs?: FileAttributes | null;
  /** A large file's chunks as its manifest lists them (a restore from the bucket alone finds each). */
  chunks?: string[];
}

/** A directory or symlink to bring back (it holds no bytes). */
export type RestoreNode = TreeNode;

/** What one restore brings back: files with bytes, and the directories and symlinks around them. */
export interface RestoreSet {
  files: RestoreFile[];
  nodes: RestoreNode[];
}

/** A backup's catalog rows as a restore set (rows are input too: they are validated like a manifest). */
export function restoreSetOfDetail(detail: BackupDetail): RestoreSet {
  return { files: detail.files, nodes: detail.nodes };
}

/** A target's manifest as a restore set, for a restore from the bucket alone. */
export function restoreSetOfManifest(manifest: Manifest): RestoreSet {
  return {
    files: Object.entries(manifest.files).map(([storedPath, f]) => fileOfManifest(storedPath, f)),
    nodes: Object.entries(manifest.nodes ?? {}).map(([path, n]) => nodeOfManifest(path, n)),
  };
}

/** A manifest entry as a file to restore; an encrypted one names its blob and key. */
function fileOfManifest(storedPath: string, f: ManifestFile): RestoreFile {
  const { path, size, sha256, storedSha256, storedSize, keyId } = f;
  const encrypted =
    storedSha256 && storedSize !== undefined && keyId
      ? { sha256: storedSha256, size: storedSize, keyId }
      : null;
  return {
    storedPath,
    path,
    size,
    sha256,
    encrypted,
    pathBytes: f.pathBytes === undefined ? null : Buffer.from(f.pathBytes, 'base64'),
    attrs: f.attrs ?? null,
    ...(f.chunks && { chunks: f.chunks }),
  };
}

function nodeOfManifest(path: string, n: ManifestNode): RestoreNode {
  return {
    path,
    type: n.type,
    target: n.target ?? null,
    pathBytes: n.pathBytes === undefined ? null : Buffer.from(n.pathBytes, 'base64'),
    targetBytes: n.targetBytes === undefined ? null : Buffer.from(n.targetBytes, 'base64'),
    attrs: n.attrs,
  };
}

/** The bytes an entry's path stands for: its raw bytes when recorded, else its UTF-8. */
export function pathBytesOf(entry: { path: string; pathBytes?: Buffer | null }): Buffer {
  return entry.pathBytes ?? Buffer.from(entry.path, 'utf8');
}

/** A path's components, as bytes (a name that is not valid UTF-8 stays exactly as it was). */
export function componentsOf(bytes: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x2f) {
      parts.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}
