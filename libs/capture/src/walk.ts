import type { BigIntStats } from 'node:fs';
import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { displayBytes, isInside, neverBackedUp, PermanentFailure, type TreeNode } from '@fleet-backup/core';
import { TimeSlice } from './bounded.ts';
import type { FoundFile, SkippedItem, WalkLimits, WalkResult, WalkRoot } from './found.ts';
import { insideBytes } from './found.ts';
import { loadOwnerNames, type OwnerNames } from './owner-names.ts';
import { EntryChanged, EntryVanished, type Identity, openDir, type VerifiedDir } from './verified-open.ts';
import { type DirWalk, dirNode, logicalRoot, type TreeWalk, treeFile, walkDir } from './walk-tree.ts';

export type { FoundFile, SkippedItem, WalkLimits, WalkResult, WalkRoot } from './found.ts';

/**
 * Lists what the requested paths hold, by verified directory descriptors (verified-open.ts):
 * regular files to copy, and every directory and symlink as a node (a symlink is recorded with its
 * target, never followed). A requested path that is missing, unreadable, outside the agent's
 * roots or the request's token scope, or inside the backup root is a PermanentFailure; the
 * requested path itself may be reached through a symlink (its real path is then what is walked).
 * Inside a tree, entries the exclusion rules match are skipped with the rule (an excluded
 * directory is not descended into), and anything that changed under us is skipped with the reason.
 */
export async function walk(roots: WalkRoot[], limits: WalkLimits, names?: OwnerNames): Promise<WalkResult> {
  const files = new Map<string, FoundFile>();
  const nodes = new Map<string, TreeNode>();
  const skipped: SkippedItem[] = [];
  const tree: TreeWalk = {
    limits,
    names: names ?? (await loadOwnerNames()),
    backupRootId: await identityOf(limits.backupRoot),
    skipped,
    slice: new TimeSlice(),
    add: (f) => addOnce(files, f, skipped),
    addNode: (n) => void (nodes.has(n.path) || nodes.set(n.path, n)),
  };
  for (const root of roots) await walkRoot({ ...tree, root }, root);
  const byPath = (a: { path: string }, b: { path: string }) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  return { files: [...files.values()].sort(byPath), nodes: [...nodes.values()].sort(byPath), skipped };
}

/** Two roots may overlap (the same file twice); two raw names that display alike must not pass silently. */
function addOnce(files: Map<string, FoundFile>, f: FoundFile, skipped: SkippedItem[]): void {
  const seen = files.get(f.path);
  if (!seen) return void files.set(f.path, f);
  const sameBytes = (seen.pathBytes ?? Buffer.from(seen.path)).equals(f.pathBytes ?? Buffer.from(f.path));
  if (!sameBytes)
    skipped.push({
      path: f.path,
      reason: 'its name shows the same as another entry beside it (one is not valid UTF-8); rename one',
    });
}

async function walkRoot(w: DirWalk, root: WalkRoot): Promise<void> {
  const real = await realRoot(root.path, w.limits);
  const logical = logicalRoot(root.path);
  const info = await lstat(real, { bigint: true });
  if (info.isDirectory()) {
    const dir = await openRoot(real, root.path);
    try {
      w.addNode(dirNode(dir, logical, w.names));
      await walkDir(w, dir, logical, 'normal');
    } finally {
      await dir.handle.close();
    }
  } else if (info.isFile()) await walkFileRoot(w, root, real);
  else w.skipped.push({ path: root.path, reason: 'not a regular file' });
}

/** A requested file: found in its (verified) directory, with a database's `-wal` / `-shm` beside it. */
async function walkFileRoot(w: DirWalk, root: WalkRoot, real: Buffer): Promise<void> {
  const slash = real.lastIndexOf(0x2f);
  const parentReal = slash === 0 ? Buffer.from('/') : real.subarray(0, slash);
  const name = real.subarray(slash + 1);
  const parent = await openRoot(parentReal, path.posix.dirname(root.path));
  try {
    const companions = root.path.endsWith('.db') ? ['', '-wal', '-shm'] : [''];
    for (const suffix of companions) {
      const entry = Buffer.concat([name, Buffer.from(suffix)]);
      const info = await lstatIn(parent, entry);
      if (info?.isFile()) w.add(treeFile(w.root, parent, entry, info, logicalRoot(`${root.path}${suffix}`)));
      else if (!suffix) throw new Error(`${root.path} changed while the backup started; the job retries`);
    }
  } finally {
    await parent.handle.close();
  }
}

async function lstatIn(dir: VerifiedDir, name: Buffer): Promise<BigIntStats | null> {
  return lstat(Buffer.concat([Buffer.from(`${dir.at}/`), name]), { bigint: true }).catch(() => null);
}

/** A requested path swapped under us between its realpath and its open: a retry starts over. */
async function openRoot(real: Buffer, logical: string): Promise<VerifiedDir> {
  try {
    return await openDir(real, real, logical);
  } catch (err) {
    if (err instanceof EntryChanged || err instanceof EntryVanished)
      throw new Error(`${logical} ${err.message} while the backup started; the job retries`);
    throw err;
  }
}

async function realRoot(requested: string, limits: WalkLimits): Promise<Buffer> {
  let real: Buffer;
  try {
    real = await realpath(requested, { encoding: 'buffer' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new PermanentFailure(`path ${requested} does not exist on this host`, { path: requested });
    if (code === 'EACCES')
      throw new PermanentFailure(`cannot read ${requested}: permission denied`, { path: requested });
    throw err;
  }
  const shown = displayBytes(real);
  if (!limits.allowedRoots.some((r) => insideBytes(real, r))) {
    throw new PermanentFailure(
      `path ${requested} resolves to ${shown}, outside the roots this agent may read (${limits.allowedRoots.join(', ')})`,
      { path: requested },
    );
  }
  const { scope } = limits;
  if (scope && !scope.prefixes.some((p) => insideBytes(real, p))) {
    // Where it resolves to is not named: the token's holder may read this message.
    throw new PermanentFailure(
      `path ${requested} resolves (through a symlink) outside the path prefixes of token ${scope.token}; ` +
        'a pre_change token backs up only what lies under its prefixes after every symlink, as the API refuses other paths (403)',
      { path: requested, token: scope.token },
    );
  }
  const never = neverBackedUp(requested) ?? neverBackedUp(shown);
  if (never)
    throw new PermanentFailure(`path ${requested} is never backed up (${never})`, { path: requested });
  if (isInside(shown, limits.backupRoot)) {
    throw new PermanentFailure(
      `path ${requested} is inside the backup root ${limits.backupRoot}; backups never include backups`,
      { path: requested },
    );
  }
  return real;
}

async function identityOf(p: string): Promise<Identity | null> {
  const info = await stat(p, { bigint: true }).catch(() => null);
  return info && { dev: info.dev, ino: info.ino };
}
