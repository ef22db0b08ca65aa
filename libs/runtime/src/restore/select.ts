import { BadInputError, isGeneratedItem, metadataPath } from '@fleet-backup/core';
import type { RestoreFile, RestoreNode, RestoreSet } from './model.ts';
import { assertSafeRestoreSet } from './validate.ts';

export interface RestoreSelection {
  files: RestoreFile[];
  nodes: RestoreNode[];
  /** Generated items of the backup left out because they were not named (restore them with --file). */
  withheld: string[];
}

/**
 * What a `restore` brings back. The whole list is validated first, so a crafted entry anywhere
 * refuses the restore even of one file. Without `wanted`: everything but the agent's generated
 * items (environment.config, environment.secrets.config, dependencies.config), which describe the
 * host and are not files of it: they are written out only when named, so the secrets never land
 * in the clear by default. With `wanted` (original paths, with or without the leading /): those
 * files and symlinks, or everything beneath a named directory, with the directories above them.
 */
export function selectForRestore(
  set: RestoreSet,
  wanted: string[] | undefined,
  where: string,
): RestoreSelection {
  assertSafeRestoreSet(set, where);
  if (!wanted?.length) {
    return {
      files: set.files.filter((f) => !isGeneratedItem(f.path)),
      nodes: set.nodes,
      withheld: set.files.filter((f) => isGeneratedItem(f.path)).map((f) => f.path),
    };
  }
  const named = [...new Set(wanted.map((w) => metadataPath(w).replace(/\/+$/, '')))];
  if (named.includes('')) throw new BadInputError('--file needs a path below /, e.g. --file /etc/app.conf');
  const under = (p: string, n: string) => p === n || p.startsWith(`${n}/`);
  const chosen = (p: string) => named.some((n) => under(p, n));
  const missing = named.filter(
    (n) => !set.files.some((f) => under(f.path, n)) && !set.nodes.some((x) => under(x.path, n)),
  );
  if (missing.length) throw new BadInputError(`not in this backup: ${missing.join(', ')}`, { missing });
  const files = set.files.filter((f) => chosen(f.path));
  const leaves = [...files.map((f) => f.path), ...set.nodes.filter((n) => chosen(n.path)).map((n) => n.path)];
  // The directories above what was chosen come back with their modes and owners too.
  const above = (dir: string) => leaves.some((p) => p.startsWith(`${dir}/`));
  const nodes = set.nodes.filter((n) => chosen(n.path) || (n.type === 'dir' && above(n.path)));
  return { files, nodes, withheld: [] };
}
