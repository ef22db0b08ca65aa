import { lstat } from 'node:fs/promises';
import type { FileAttributes } from '@fleet-backup/core';
import { BadInputError } from '@fleet-backup/core';
import { ownershipDenied } from './attributes.ts';
import { type DirTree, inDir, PathInTheWay } from './dir-tree.ts';
import type { RestoreFile, RestoreNode } from './model.ts';
import type { OwnerMap } from './owners.ts';
import { dirKey, type Placed } from './plan.ts';

/**
 * Everything that would stop the restore half-way, found before anything is written: a symlink
 * or a file where a directory goes, a directory where a file goes, and (without --force) files
 * or symlinks already at the names to restore. Opens directories without creating any.
 */
export async function preflight(
  tree: DirTree,
  leaves: Placed<RestoreFile | RestoreNode>[],
  dirs: Placed<RestoreNode>[],
  force: boolean,
): Promise<void> {
  for (const d of dirs) await tree.dir([...d.parent, d.name], { create: false });
  const existing: string[] = [];
  const seen = new Set<string>();
  for (const leaf of leaves) {
    const dir = await tree.dir(leaf.parent, { create: false });
    if (!dir) continue;
    const key = `${dirKey(leaf.parent)}/${leaf.name.toString('latin1')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const there = await lstat(inDir(dir.fd, leaf.name)).catch(() => null);
    if (!there) continue;
    if (there.isDirectory()) {
      throw new PathInTheWay(
        `${leaf.display} is a directory, but the backup has a ${'type' in leaf.entry ? 'symlink' : 'file'} there: move it away (a restore never removes a directory), or restore into another --to`,
        { path: leaf.display },
      );
    }
    if (!force) existing.push(leaf.display);
  }
  if (existing.length) {
    throw new BadInputError(
      `${existing.length} file(s) already exist under ${tree.top} (first: ${existing[0]}); use --force to overwrite`,
      { existing: existing.slice(0, 100) },
    );
  }
}

/**
 * Giving files their owners needs root. Refused before anything is written when this process
 * could not make one of the chowns, with the message that names --no-owner.
 */
export async function refuseForeignOwners(
  entries: Placed<{ attrs?: FileAttributes | null }>[],
  owners: OwnerMap,
): Promise<void> {
  if (process.geteuid?.() === 0) return;
  const uid = process.geteuid?.();
  const groups = new Set([process.getegid?.(), ...(process.getgroups?.() ?? [])]);
  for (const e of entries) {
    if (!e.entry.attrs) continue;
    const ids = await owners.ids(e.entry.attrs);
    if (ids.uid !== uid || !groups.has(ids.gid)) throw ownershipDenied(e.display, e.entry.attrs, ids);
  }
}
