import { type BigIntStats, lstatSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import {
  displayBytes,
  judge,
  metadataPath,
  PermanentFailure,
  rawUnlessPlain,
  type TreeNode,
  type WalkMode,
} from '@fleet-backup/core';
import { attributesOf, readXattrs } from './attributes.ts';
import type { TimeSlice } from './bounded.ts';
import type { FoundFile, SkippedItem, WalkLimits, WalkRoot } from './found.ts';
import { insideBytes, joinBytes } from './found.ts';
import type { OwnerNames } from './owner-names.ts';
import {
  EntryChanged,
  EntryVanished,
  entryIn,
  type Identity,
  openDir,
  sameIdentity,
  type VerifiedDir,
} from './verified-open.ts';

/** A logical path as text (with `\xHH` escapes) and as the raw bytes it stands for. */
export interface Logical {
  text: string;
  bytes: Buffer;
  /** Some component is not valid UTF-8: `text` is then not the name, `bytes` is. */
  raw: boolean;
}

/** What one walk shares across its roots. */
export interface TreeWalk {
  limits: WalkLimits;
  names: OwnerNames;
  /** Our own backup root, known by identity so no path spelling can hide it. */
  backupRootId: Identity | null;
  skipped: SkippedItem[];
  /** Gives the event loop a turn between the walk's synchronous lstats. */
  slice: TimeSlice;
  add(file: FoundFile): void;
  addNode(node: TreeNode): void;
}

export interface DirWalk extends TreeWalk {
  root: WalkRoot;
}

export function logicalRoot(p: string): Logical {
  return { text: p, bytes: Buffer.from(p), raw: false };
}

function child(parent: Logical, name: Buffer): Logical {
  const shown = displayBytes(name);
  const raw = parent.raw || rawUnlessPlain(name) !== null;
  const sep = parent.text.endsWith('/') ? '' : '/';
  return {
    text: `${parent.text}${sep}${shown}`,
    bytes: Buffer.concat([parent.bytes, Buffer.from(sep), name]),
    raw,
  };
}

/** The raw bytes a node or file row keeps, without the leading `/` as metadata paths go. */
function metadataBytes(l: Logical): Buffer | null {
  return l.raw ? l.bytes.subarray(l.bytes.findIndex((b) => b !== 0x2f)) : null;
}

/** Lists one verified directory and visits each entry, in byte order. */
export async function walkDir(w: DirWalk, dir: VerifiedDir, logical: Logical, mode: WalkMode): Promise<void> {
  if (w.backupRootId && sameIdentity(dir.stat, w.backupRootId)) {
    w.skipped.push({ path: logical.text, reason: 'the backup root itself', dir: true });
    return;
  }
  let names: Buffer[];
  try {
    // `/proc/self/fd/N` lists the directory we opened, not whatever its path names now.
    names = await readdir(dir.at, { encoding: 'buffer' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      throw new PermanentFailure(`cannot list ${logical.text}: permission denied`, { path: logical.text });
    throw err;
  }
  names.sort(Buffer.compare);
  for (const name of names) {
    await w.slice.pass();
    await visit(w, dir, name, child(logical, name), mode);
  }
}

async function visit(w: DirWalk, dir: VerifiedDir, name: Buffer, logical: Logical, mode: WalkMode) {
  let info: BigIntStats;
  try {
    // Sync: a metadata syscall costs less than the thread-pool hop (the walk is one entry at a time anyway).
    info = lstatSync(entryIn(dir, name), { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return void w.skipped.push({ path: logical.text, reason: 'vanished during the backup' });
    if (code === 'EACCES' || code === 'EPERM')
      throw new PermanentFailure(
        `cannot read ${logical.text}: permission denied; grant the agent read access or exclude it`,
        { path: logical.text, code },
      );
    throw err;
  }
  const isDir = info.isDirectory();
  const verdict = judge(w.root.rules, logical.text, isDir, mode);
  if (!verdict.take) {
    if (!verdict.quiet)
      w.skipped.push({ path: logical.text, reason: verdict.reason, ...(isDir && { dir: true as const }) });
    // A default-excluded directory is entered only for what an include names in it.
    if (verdict.rescue) await enterDir(w, dir, name, info, logical, 'rescue');
    return;
  }
  if (isDir) await enterDir(w, dir, name, info, logical, verdict.included ? 'included' : 'normal');
  else if (info.isFile()) w.add(treeFile(w.root, dir, name, info, logical));
  else if (info.isSymbolicLink()) await addSymlink(w, dir, name, info, logical);
  else w.skipped.push({ path: logical.text, reason: `not a regular file (${specialKind(info)})` });
}

/** Opens a subdirectory through its verified parent, checks it is the one listed, and walks it. */
async function enterDir(
  w: DirWalk,
  parent: VerifiedDir,
  name: Buffer,
  listed: BigIntStats,
  logical: Logical,
  mode: WalkMode,
): Promise<void> {
  let dir: VerifiedDir;
  try {
    dir = await openDir(entryIn(parent, name), joinBytes(parent.real, name), logical.text);
  } catch (err) {
    if (err instanceof EntryChanged || err instanceof EntryVanished)
      return void w.skipped.push({ path: logical.text, reason: err.message, dir: true });
    throw err;
  }
  try {
    if (!sameIdentity(dir.stat, listed)) {
      const reason = new EntryChanged(logical.text, 'replaced by another directory').message;
      return void w.skipped.push({ path: logical.text, reason, dir: true });
    }
    const outside = outsideLimits(w.limits, dir.real);
    if (outside) return void w.skipped.push({ path: logical.text, reason: outside, dir: true });
    const node = dirNode(dir, logical, w.names);
    // Walked only for what an include rescues: recorded only if it holds something taken.
    if (mode !== 'rescue') w.addNode(node);
    let took = false;
    const inner: DirWalk = {
      ...w,
      add: (f) => {
        took = true;
        w.add(f);
      },
      addNode: (n) => {
        took = true;
        w.addNode(n);
      },
    };
    await walkDir(inner, dir, logical, mode);
    if (mode === 'rescue' && took) w.addNode(node);
  } finally {
    await dir.handle.close();
  }
}

/**
 * Belt and braces: a directory reached only through verified parents lies under the requested
 * path's real path, which was checked against the roots and the token's scope; this checks again.
 */
function outsideLimits(limits: WalkLimits, real: Buffer): string | null {
  if (!limits.allowedRoots.some((r) => insideBytes(real, r)))
    return 'outside the roots this agent may read; not backed up';
  if (limits.scope && !limits.scope.prefixes.some((p) => insideBytes(real, p)))
    return `outside the path prefixes of token ${limits.scope.token}; not backed up`;
  return null;
}

/** A directory node: its attributes from the open descriptor, xattrs through `/proc/self/fd/N/.`. */
export function dirNode(dir: VerifiedDir, logical: Logical, names: OwnerNames): TreeNode {
  return {
    path: metadataPath(logical.text),
    type: 'dir',
    target: null,
    pathBytes: metadataBytes(logical),
    targetBytes: null,
    attrs: attributesOf(dir.stat, names, readXattrs(`${dir.at}/.`)),
  };
}

/** A symlink is recorded, never followed: its target exactly as readlink gives it. */
async function addSymlink(w: DirWalk, dir: VerifiedDir, name: Buffer, info: BigIntStats, logical: Logical) {
  let target: Buffer;
  try {
    target = await readlink(entryIn(dir, name), { encoding: 'buffer' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'vanished during the backup'
        : new EntryChanged(logical.text, 'no longer a symlink').message;
    return void w.skipped.push({ path: logical.text, reason });
  }
  w.addNode({
    path: metadataPath(logical.text),
    type: 'symlink',
    target: displayBytes(target),
    pathBytes: metadataBytes(logical),
    targetBytes: rawUnlessPlain(target),
    // No xattrs: Linux keeps user attributes off symlinks, and a restore could not set others.
    attrs: attributesOf(info, w.names, undefined),
  });
}

export function treeFile(
  root: WalkRoot,
  dir: VerifiedDir,
  name: Buffer,
  info: BigIntStats,
  logical: Logical,
): FoundFile {
  return {
    path: logical.text,
    pathBytes: logical.raw ? logical.bytes : null,
    // Only what is compared later: a full stat per file would cost memory on big trees.
    from: {
      kind: 'tree',
      dir: dir.real,
      dirId: identity(dir.stat),
      name,
      id: identity(info),
      mtimeNs: info.mtimeNs,
      ctimeNs: info.ctimeNs,
    },
    size: Number(info.size),
    config: root.config,
    sensitive: root.sensitive.match(logical.text) !== null,
  };
}

function identity(info: BigIntStats): Identity {
  return { dev: info.dev, ino: info.ino };
}

function specialKind(info: BigIntStats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  return 'an unknown kind of entry';
}
