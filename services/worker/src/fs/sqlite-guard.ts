import { fstatSync, readdirSync, readlinkSync } from 'node:fs';
import { EntryChanged, type Identity, PROC_FD, sameIdentity } from '@fleet-backup/capture';

/**
 * node:sqlite opens a database by name, and SQLite opens its `-wal` and `-shm` by name too: a
 * directory above swapped for a symlink at that moment would send it elsewhere. We cannot hand
 * SQLite a descriptor, so we check what it opened. The descriptors that appear across the
 * (synchronous) open and first read are SQLite's: among them must be the very file the walk listed
 * (same device and inode), and any of them named like the database must sit in its verified
 * directory. Anything else fails the file as changed during the backup, and it is not stored.
 * Unrelated descriptors opened meanwhile by other work of this process (sockets, other files)
 * are told apart by identity and name, and ignored.
 */
export interface ExpectedDatabase {
  /** The database file as listed and verified. */
  id: Identity;
  /** Its directory's real path and its name there, as bytes. */
  dir: Buffer;
  name: Buffer;
  /** For the reason recorded if the check fails. */
  logical: string;
}

/**
 * This process's open descriptors and what each names. By number alone a new one could pass for
 * an old one: listing /proc/self/fd takes a descriptor itself, whose number SQLite then reuses.
 */
export function openDescriptors(): Map<string, string> {
  const open = new Map<string, string>();
  for (const fd of readdirSync(PROC_FD)) open.set(fd, linkOf(fd)?.toString('latin1') ?? '');
  return open;
}

/** Throws EntryChanged unless SQLite opened exactly the expected files (see above). */
export function confirmOpened(before: Map<string, string>, expect: ExpectedDatabase): void {
  let found = false;
  for (const fd of readdirSync(PROC_FD)) {
    const link = linkOf(fd);
    if (before.get(fd) === (link?.toString('latin1') ?? '')) continue;
    // Sockets, pipes and anonymous inodes read as `socket:[…]` and the like.
    if (link?.[0] !== 0x2f) continue;
    const slash = link.lastIndexOf(0x2f);
    const dir = slash === 0 ? Buffer.from('/') : link.subarray(0, slash);
    const base = link.subarray(slash + 1);
    const ours = base.subarray(0, expect.name.length).equals(expect.name);
    if (ours && !dir.equals(expect.dir))
      throw new EntryChanged(expect.logical, 'SQLite reached it through a directory that was replaced');
    if (sameIdentity(statOf(fd) ?? { dev: -1n, ino: -1n }, expect.id)) found = true;
  }
  if (!found) throw new EntryChanged(expect.logical, 'SQLite opened another file than the one listed');
}

function linkOf(fd: string): Buffer | null {
  try {
    return readlinkSync(`${PROC_FD}/${fd}`, { encoding: 'buffer' });
  } catch {
    return null;
  }
}

function statOf(fd: string): Identity | null {
  try {
    return fstatSync(Number(fd), { bigint: true });
  } catch {
    return null;
  }
}
