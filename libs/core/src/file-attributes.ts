/**
 * What a restore needs, beyond the bytes, to bring an entry back as it was: the catalog and every
 * offsite manifest keep it, so a bucket-only restore has it too. The seed's backup_metadata.json
 * does not carry it (its schema is fixed).
 */
export interface FileAttributes {
  /** Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** The names of uid and gid on the host that was backed up, when it knew them: a restore maps them back by name first, as tar does. */
  owner: string | null;
  group: string | null;
  /** Modification time in nanoseconds since the epoch, as a decimal string (JSON has no 64-bit integers). */
  mtimeNs: string;
  /** Extended attributes, name → base64 value; POSIX ACLs are `system.posix_acl_access` and `system.posix_acl_default`. Absent when none. */
  xattrs?: Record<string, string>;
}

/** Entries of a backup that are not regular files: they hold no bytes and are not in the seed's file map. */
export type NodeType = 'dir' | 'symlink';

export interface TreeNode {
  /** Source path without the leading slash, as metadata paths are. */
  path: string;
  type: NodeType;
  /** A symlink's target, exactly as readlink gave it (never followed). */
  target: string | null;
  /** The raw bytes of the path or target, when they are not valid UTF-8 (the strings then show `\xHH` escapes). */
  pathBytes: Buffer | null;
  targetBytes: Buffer | null;
  attrs: FileAttributes;
}

/** Largest mode a file may carry: permission bits plus setuid, setgid and sticky. */
export const MAX_MODE = 0o7777;
