import type { RuleSet, SensitiveMatcher, TreeNode } from '@fleet-backup/core';
import type { Identity } from './verified-open.ts';

export interface WalkRoot {
  /** The path as requested: metadata keys derive from it. */
  path: string;
  /** Files under a configuration source are classified as configuration. */
  config: boolean;
  /** The default exclusion rules plus those of the configured source the path falls under. */
  rules: RuleSet;
  /** The default sensitive-file globs plus the `sensitive` globs of that source. */
  sensitive: SensitiveMatcher;
}

/** Where a found file's bytes are, as the walk saw them: a name in a directory it verified. */
export interface TreeSource {
  kind: 'tree';
  /** The real path of its directory (bytes), and that directory's identity when listed. */
  dir: Buffer;
  dirId: Identity;
  /** Its name in that directory (bytes: names on Linux need not be UTF-8). */
  name: Buffer;
  /** Its identity when listed: the file opened later must be this one. */
  id: Identity;
  /**
   * Its modification and status-change times when listed, in nanoseconds: with its identity and
   * size, what says a file is unchanged since the previous backup
   * (services/worker/src/capture/link-unchanged.ts).
   */
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** An item the agent wrote itself (generated system state, in its staging directory). */
export interface StagedSource {
  kind: 'staged';
  path: string;
}

export interface FoundFile {
  /**
   * Logical absolute path, under the requested path: metadata keys derive from it. A byte that is
   * not valid UTF-8 shows as `\xHH` (libs/core displayBytes).
   */
  path: string;
  /** The raw bytes of `path` when it is not valid UTF-8; null when `path` is exact. */
  pathBytes: Buffer | null;
  from: TreeSource | StagedSource;
  /** Size when listed (the copy records what it read). */
  size: number;
  config: boolean;
  /**
   * The one switch for secrets: a sensitive file is encrypted on the agent before it is stored
   * (or skipped when no encryption key is configured), never copied in the clear.
   */
  sensitive?: boolean;
}

export interface SkippedItem {
  path: string;
  reason: string;
  /** Set for a skipped directory (nothing beneath it was read, bar what an include rescued). */
  dir?: true;
}

/** What a walk found: the files to copy, the directories and symlinks to record, and what it skipped. */
export interface WalkResult {
  files: FoundFile[];
  nodes: TreeNode[];
  skipped: SkippedItem[];
}

/** The scope of a pre_change token: stored entries' real paths must lie under one of these. */
export interface WalkScope {
  token: string;
  /** The token's prefixes and, where they differ, their real paths on this host. */
  prefixes: string[];
}

export interface WalkLimits {
  /** Never read our own copies. */
  backupRoot: string;
  /** Roots the agent may read at all. */
  allowedRoots: string[];
  /** Set for a backup a pre_change token asked for. */
  scope?: WalkScope;
}

/** True when the real path `child` (bytes) is `root` or lies beneath it. */
export function insideBytes(child: Buffer, root: string): boolean {
  if (root === '/') return child[0] === 0x2f;
  const r = Buffer.from(root);
  if (child.length === r.length) return child.equals(r);
  return child.length > r.length && child[r.length] === 0x2f && child.subarray(0, r.length).equals(r);
}

/** `dir/name` as bytes, for real paths. */
export function joinBytes(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 1 && dir[0] === 0x2f
    ? Buffer.concat([dir, name])
    : Buffer.concat([dir, Buffer.from('/'), name]);
}
