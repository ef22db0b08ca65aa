import type { BigIntStats } from 'node:fs';
import type { FileAttributes } from '@fleet-backup/core';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import type { OwnerNames } from './owner-names.ts';

/** Mode, owner and mtime of an entry from its (f)stat, plus its extended attributes when it has any. */
export function attributesOf(
  stat: BigIntStats,
  names: OwnerNames,
  xattrs: Record<string, string> | undefined,
): FileAttributes {
  const uid = Number(stat.uid);
  const gid = Number(stat.gid);
  return {
    mode: Number(stat.mode & 0o7777n),
    uid,
    gid,
    owner: names.user(uid),
    group: names.group(gid),
    mtimeNs: stat.mtimeNs.toString(),
    ...(xattrs && { xattrs }),
  };
}

/**
 * Every extended attribute of the entry at `path` (POSIX ACLs are `system.posix_acl_access` and
 * `system.posix_acl_default`), values base64, or undefined when it has none. The reader never
 * follows a final symlink; pass a `/proc/self/fd/N/<name>` path so that no directory above the entry
 * is resolved afresh either. Sync on purpose: one or two cheap metadata syscalls per entry cost
 * less than a hop to the thread pool. A filesystem without xattrs, or an entry that just vanished
 * (the caller confirms its identity afterwards), reads as none.
 */
export function readXattrs(path: string): Record<string, string> | undefined {
  let names: string[];
  try {
    names = listAttributesSync(path);
  } catch {
    return undefined;
  }
  if (!names.length) return undefined;
  const out: Record<string, string> = {};
  for (const name of names.sort()) {
    try {
      const value = getAttributeSync(path, name);
      if (value) out[name] = value.toString('base64');
    } catch {
      // Removed between list and read: it is not there to record.
    }
  }
  return Object.keys(out).length ? out : undefined;
}
