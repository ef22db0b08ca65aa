import path from 'node:path';
import { isInside, OutOfScopeError, type Principal } from '@fleet-backup/core';
import type { BackupDetail, NodeRow } from '@fleet-backup/db';

/** What a view of a backup holds that names paths; the rest of it passes as it is. */
interface PathBearingView {
  files: { path: string }[];
  skipped: { path: string }[];
  metadata: unknown;
}

export interface HiddenEntries {
  files: number;
  skipped: number;
  reason: string;
}

/**
 * Refuses (403) a pre_change token a backup that names a path outside its prefixes: it could not
 * have asked for it. Other tokens pass.
 */
export function assertPathsInScope(
  principal: Principal,
  backup: Pick<BackupDetail['backup'], 'id' | 'host' | 'key' | 'request'>,
): void {
  if (principal.scope !== 'pre_change') return;
  const outside = backup.request.paths.filter((p) => !principal.pathPrefixes.some((pre) => isInside(p, pre)));
  if (outside.length) {
    throw new OutOfScopeError(
      `token ${principal.name} may not read ${backup.host}/${backup.key}: it backs up ${outside.join(', ')}, outside the token's path prefixes (${principal.pathPrefixes.join(', ')})`,
      { backupId: backup.id, paths: outside },
    );
  }
}

/** Symlink hops followed before giving up, as the kernel's ELOOP does. */
const MAX_HOPS = 40;

/**
 * A backup's view as a token may see it. Admin and read tokens see it all. A pre_change token
 * reads only its scope: a backup that names a path outside its prefixes is refused (403: it
 * could not have asked for it), and within one it could have asked for, every entry whose real
 * path (through the symlinks the backup recorded) lies outside its prefixes is left out of
 * `files`, `skipped` and the seed entry's `files`, and counted under `hidden`. The agent already
 * refuses such entries; this is the second line, for backups taken before it did.
 */
export function scopedView<V extends PathBearingView>(
  principal: Principal,
  detail: BackupDetail,
  view: V,
): V | (V & { hidden: HiddenEntries }) {
  if (principal.scope !== 'pre_change') return view;
  const { backup } = detail;
  const within = (absolute: string) => principal.pathPrefixes.some((p) => isInside(absolute, p));
  assertPathsInScope(principal, backup);
  const links = new Map(detail.nodes.filter((n) => n.type === 'symlink').map((n) => [n.path, n]));
  // Entry paths in files and the seed entry are relative (no leading "/"); skipped paths are absolute.
  const visible = (relative: string) => {
    const logical = `/${relative.replace(/^\/+/, '')}`;
    return within(logical) && within(realPath(logical, links));
  };
  const files = view.files.filter((f) => visible(f.path));
  const skipped = view.skipped.filter((s) => visible(s.path));
  const hiddenFiles = view.files.length - files.length;
  const hiddenSkipped = view.skipped.length - skipped.length;
  if (hiddenFiles === 0 && hiddenSkipped === 0) return view;
  return {
    ...view,
    files,
    skipped,
    metadata: withoutFiles(view.metadata, visible),
    hidden: {
      files: hiddenFiles,
      skipped: hiddenSkipped,
      reason: `outside the path prefixes of token ${principal.name} (${principal.pathPrefixes.join(', ')})`,
    },
  };
}

/**
 * Where an absolute logical path really leads, following the symlinks recorded in the backup
 * (keyed by relative path) at every level. A loop or a chain too long ends at "/", which lies
 * under no prefix but "/" itself.
 */
export function realPath(logical: string, links: Map<string, NodeRow>): string {
  let current = logical;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const parts = current.split('/').filter(Boolean);
    let followed = false;
    for (let i = 1; i <= parts.length; i++) {
      const link = links.get(parts.slice(0, i).join('/'));
      if (!link?.target) continue;
      const dir = `/${parts.slice(0, i - 1).join('/')}`;
      current = path.posix.join(path.posix.resolve(dir, link.target), ...parts.slice(i));
      followed = true;
      break;
    }
    if (!followed) return current;
  }
  return '/';
}

/** The seed entry with only the files a token may see. */
function withoutFiles(metadata: unknown, visible: (relative: string) => boolean): unknown {
  if (typeof metadata !== 'object' || metadata === null || !('files' in metadata)) return metadata;
  const files = (metadata as { files: unknown }).files;
  if (typeof files !== 'object' || files === null) return metadata;
  const kept = Object.fromEntries(Object.entries(files).filter(([p]) => visible(p)));
  return { ...metadata, files: kept };
}
