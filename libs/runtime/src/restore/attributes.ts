import { fchmodSync, fchownSync, futimesSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lchown, lutimes } from 'node:fs/promises';
import os from 'node:os';
import { type FileAttributes, PermanentFailure } from '@fleet-backup/core';
import { setAttribute, setAttributeSync } from '@napi-rs/xattr';
import type { OwnerMap } from './owners.ts';

/** Restoring ownership needs root: the restore stops and says how to go on without it. */
export class OwnershipDenied extends PermanentFailure {}

/** Something a restore could not bring back but that does not make the bytes wrong (e.g. an xattr the filesystem refuses). */
export interface RestoreNote {
  path: string;
  problem: string;
}

export interface AttributeContext {
  /** Give entries their recorded owner (false: `--no-owner`, they stay the restoring user's). */
  owner: boolean;
  owners: OwnerMap;
  notes: RestoreNote[];
}

/**
 * A regular file's attributes, on the still-open temporary file before it is renamed into
 * place: owner, then extended attributes (ACLs among them), then the mode (after chown, which
 * clears setuid and setgid, and after the ACL, which sets the group bits to its mask), then the
 * mtime last, as nothing after it may touch the file. `xattrPath` reaches the temporary file
 * without following a symlink.
 */
export async function applyFileAttributes(
  handle: FileHandle,
  xattrPath: string,
  display: string,
  attrs: FileAttributes,
  ctx: AttributeContext,
): Promise<void> {
  if (ctx.owner) await giveOwner(attrs, display, ctx, (uid, gid) => handle.chown(uid, gid));
  await setXattrs(xattrPath, display, attrs, ctx);
  await handle.chmod(attrs.mode);
  const t = utimesSeconds(attrs.mtimeNs);
  await handle.utimes(t, t);
}

/**
 * The same with plain syscalls, for a small file (write-file.ts): its owner's ids looked up
 * before (`ids`, null with `--no-owner`).
 */
export function applyFileAttributesSync(
  fd: number,
  xattrPath: string,
  display: string,
  attrs: FileAttributes,
  ctx: AttributeContext,
  ids: { uid: number; gid: number } | null,
): void {
  if (ids) {
    try {
      fchownSync(fd, ids.uid, ids.gid);
    } catch (err) {
      throw chownFailure(err, display, attrs, ids);
    }
  }
  for (const [name, value] of Object.entries(attrs.xattrs ?? {})) {
    try {
      setAttributeSync(xattrPath, name, Buffer.from(value, 'base64'));
    } catch (err) {
      xattrRefused(err, name, display, ctx);
    }
  }
  fchmodSync(fd, attrs.mode);
  const t = utimesSeconds(attrs.mtimeNs);
  futimesSync(fd, t, t);
}

/** A directory's attributes through its open descriptor; applied after everything inside it is written. */
export function applyDirAttributes(
  handle: FileHandle,
  display: string,
  attrs: FileAttributes,
  ctx: AttributeContext,
): Promise<void> {
  // `<magic link>/.` is the directory itself: its xattrs are set without naming it by path.
  return applyFileAttributes(handle, `/proc/self/fd/${handle.fd}/.`, display, attrs, ctx);
}

/** A symlink's own attributes (lchown, lutimes: the link, never what it points to). It has no mode of its own on Linux.
 * `link` is its temporary name, reached through its directory's descriptor (plain ASCII). */
export async function applySymlinkAttributes(
  link: string,
  display: string,
  attrs: FileAttributes,
  ctx: AttributeContext,
): Promise<void> {
  if (ctx.owner) await giveOwner(attrs, display, ctx, (uid, gid) => lchown(link, uid, gid));
  await setXattrs(link, display, attrs, ctx);
  const t = utimesSeconds(attrs.mtimeNs);
  await lutimes(link, t, t);
}

/**
 * Seconds for utimes. Node passes times as a double; at today's epoch a double resolves about
 * 0.24 µs, and the float error could land one microsecond low, so aim at the middle of the
 * recorded microsecond.
 */
export function utimesSeconds(mtimeNs: string): number {
  const ns = BigInt(mtimeNs);
  const micros = ns / 1000n - (ns % 1000n < 0n ? 1n : 0n);
  return Number(micros) / 1e6 + 5e-7;
}

async function giveOwner(
  attrs: FileAttributes,
  display: string,
  ctx: AttributeContext,
  chown: (uid: number, gid: number) => Promise<void>,
): Promise<void> {
  const ids = await ctx.owners.ids(attrs);
  try {
    await chown(ids.uid, ids.gid);
  } catch (err) {
    throw chownFailure(err, display, attrs, ids);
  }
}

/** A failed chown: the user may not give that owner (OwnershipDenied, naming the way round), or the error as is. */
function chownFailure(
  err: unknown,
  display: string,
  attrs: FileAttributes,
  ids: { uid: number; gid: number },
) {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPERM' || code === 'EINVAL' ? ownershipDenied(display, attrs, ids, code) : err;
}

/** The error for a chown the restoring user may not make, naming the way round it. */
export function ownershipDenied(
  display: string,
  attrs: FileAttributes,
  ids: { uid: number; gid: number },
  code = 'EPERM',
): OwnershipDenied {
  const owner = `${attrs.owner ?? ids.uid}:${attrs.group ?? ids.gid} (${ids.uid}:${ids.gid})`;
  return new OwnershipDenied(
    `cannot give ${display} its owner ${owner}: ${code}, only root may; run the restore as root, or add --no-owner to keep what it writes owned by ${os.userInfo().username}`,
    { path: display, uid: ids.uid, gid: ids.gid, code },
  );
}

/** Errors of a filesystem or a user that cannot hold an attribute: noted, the restore goes on. */
const REFUSED_XATTR: Record<number, string> = {
  1: 'not permitted',
  13: 'permission denied',
  95: 'not supported by this filesystem',
};

async function setXattrs(
  xattrPath: string,
  display: string,
  attrs: FileAttributes,
  ctx: AttributeContext,
): Promise<void> {
  for (const [name, value] of Object.entries(attrs.xattrs ?? {})) {
    try {
      await setAttribute(xattrPath, name, Buffer.from(value, 'base64'));
    } catch (err) {
      xattrRefused(err, name, display, ctx);
    }
  }
}

/** An xattr the filesystem or user cannot hold is noted and the restore goes on; any other error stops it. */
function xattrRefused(err: unknown, name: string, display: string, ctx: AttributeContext): void {
  const message = (err as Error).message;
  const errno = Number(/os error (\d+)/.exec(message)?.[1]);
  const why = REFUSED_XATTR[errno];
  if (!why) throw new PermanentFailure(`cannot set extended attribute ${name} on ${display}: ${message}`);
  ctx.notes.push({ path: display, problem: `extended attribute ${name} not restored: ${why}` });
}
