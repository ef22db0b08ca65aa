import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BACKUP_KEY } from '@fleet-backup/core';
import { tempPathIn } from '../fs/atomic-copy.ts';
import { fsyncPath } from '../fs/durable.ts';

/** Where each backup's source index lives: beside the backups, never listed as one. */
export const INDEX_DIR = path.join('.fleet-backup', 'index');

/**
 * What a source file was when a backup stored it: its identity (device, inode) and the stat fields
 * any change to its content or attributes moves (size, mtime and ctime in nanoseconds; ctime also
 * moves on chmod, chown, xattr changes, and on a write whose mtime was put back). `linked` says the
 * stored copy was hardlinked from the previous backup rather than read (the hash stage skips it).
 */
export interface SourceEntry {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  linked: boolean;
}

const VERSION = 'fleet-backup source index 1';

function indexPath(backupRoot: string, key: string): string {
  if (!BACKUP_KEY.test(key)) throw new Error(`not a backup key: ${key}`);
  return path.join(backupRoot, INDEX_DIR, key);
}

/**
 * Writes a backup's source index atomically (temporary file, fsync, rename), one line per file
 * with the metadata path last, so memory stays bounded by a write buffer whatever the count.
 */
export async function writeSourceIndex(
  backupRoot: string,
  key: string,
  entries: Iterable<[string, SourceEntry]>,
): Promise<void> {
  const final = indexPath(backupRoot, key);
  await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
  const temp = tempPathIn(path.dirname(final));
  const out = await open(temp, 'wx', 0o600);
  try {
    let lines = [`${VERSION}\n`];
    for (const [p, e] of entries) {
      lines.push(
        `${e.dev} ${e.ino} ${e.size} ${e.mtimeNs} ${e.ctimeNs} ${e.linked ? 1 : 0} ${JSON.stringify(p)}\n`,
      );
      if (lines.length >= 1000) {
        await out.write(lines.join(''));
        lines = [];
      }
    }
    await out.write(lines.join(''));
    await out.sync();
    await out.close();
    await rename(temp, final);
  } catch (err) {
    await out.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
  await fsyncPath(path.dirname(final), 'r');
}

/**
 * A backup's source index, by metadata path; null when it is missing or unreadable in any way
 * (a backup taken before indexes, a torn or edited file): the snapshot then just copies.
 */
export async function readSourceIndex(
  backupRoot: string,
  key: string,
): Promise<Map<string, SourceEntry> | null> {
  const out = new Map<string, SourceEntry>();
  try {
    const lines = createInterface({
      input: createReadStream(indexPath(backupRoot, key)),
      crlfDelay: Infinity,
    });
    let first = true;
    for await (const line of lines) {
      if (first) {
        if (line !== VERSION) return null;
        first = false;
        continue;
      }
      const parts = /^(\d+) (\d+) (\d+) (\d+) (\d+) ([01]) (".*")$/.exec(line);
      if (!parts) return null;
      out.set(JSON.parse(parts[7] as string) as string, {
        dev: BigInt(parts[1] as string),
        ino: BigInt(parts[2] as string),
        size: BigInt(parts[3] as string),
        mtimeNs: BigInt(parts[4] as string),
        ctimeNs: BigInt(parts[5] as string),
        linked: parts[6] === '1',
      });
    }
    return first ? null : out;
  } catch {
    return null;
  }
}

/** Removes a backup's source index (its local copy is being deleted). */
export async function removeSourceIndex(backupRoot: string, key: string): Promise<void> {
  await rm(indexPath(backupRoot, key), { force: true });
}
