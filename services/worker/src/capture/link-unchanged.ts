import { linkSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { FoundFile } from '@fleet-backup/capture';
import { metadataPath } from '@fleet-backup/core';
import { type FileRow, storedBlob } from '@fleet-backup/db';
import { type DirMaker, tempPathIn } from '../fs/atomic-copy.ts';
import { hashFile } from '../fs/hash-file.ts';
import type { SnapshotRow } from '../stages/snapshot-row.ts';
import type { SourceEntry } from './source-index.ts';

/** The previous backup of the series a snapshot may link unchanged files from. */
export interface PreviousCopy {
  backupId: string;
  /** BACKUP_ROOT/<its key>. */
  dir: string;
  /** What each source file was when it stored it, by metadata path. */
  index: Map<string, SourceEntry>;
  /** Its catalog rows, by metadata path: what a linked file carries over (authoritative). */
  rows: Map<string, FileRow>;
  /** The key sensitive files are encrypted with now: a copy under another key is taken anew. */
  keyId: string | null;
  /**
   * `--full-check`: read each stored copy before linking it, and link only one that still matches
   * its row. One that does not is copied afresh and its stored path listed in `altered`.
   */
  checkFirst: boolean;
  altered: string[];
}

/** The walk's stat of a file of the host, as the source index records it. */
export function sourceEntryOf(file: FoundFile, linked: boolean): SourceEntry | null {
  if (file.from.kind !== 'tree') return null;
  const { id, mtimeNs, ctimeNs } = file.from;
  return { dev: id.dev, ino: id.ino, size: BigInt(file.size), mtimeNs, ctimeNs, linked };
}

/**
 * The previous backup's row for a file whose identity and stat are exactly as that backup found
 * them (device, inode, size, mtime and ctime in nanoseconds), when its stored copy may be reused:
 * not a database (always snapshotted anew through SQLite), and for a sensitive file only a copy
 * sealed under the current key. Null: read it.
 */
export function unchangedRow(file: FoundFile, prev: PreviousCopy): FileRow | null {
  const now = sourceEntryOf(file, false);
  if (!now) return null;
  const rel = metadataPath(file.path);
  const was = prev.index.get(rel);
  const row = prev.rows.get(rel);
  if (!was || !row) return null;
  const same =
    was.dev === now.dev &&
    was.ino === now.ino &&
    was.size === now.size &&
    was.mtimeNs === now.mtimeNs &&
    was.ctimeNs === now.ctimeNs;
  if (!same || row.cls === 'database' || row.size !== file.size) return null;
  if (file.sensitive ? row.encrypted?.keyId !== prev.keyId || !prev.keyId : row.encrypted) return null;
  return row;
}

/**
 * Hardlinks the previous backup's stored copy of an unchanged file into `dir` under the same stored
 * name (through a temporary name, so a name left by a killed attempt is replaced atomically) and
 * returns its row carried over. Null when it cannot be linked (another filesystem, the link-count
 * limit, the copy gone, permissions): the caller copies it as usual.
 */
export async function linkUnchanged(
  file: FoundFile,
  row: FileRow,
  dir: string,
  prev: PreviousCopy,
  dirs: DirMaker,
): Promise<SnapshotRow | null> {
  const final = path.join(dir, row.storedPath);
  if (prev.checkFirst && !(await stillAsRecorded(path.join(prev.dir, row.storedPath), row))) {
    prev.altered.push(row.storedPath);
    return null;
  }
  const from = path.join(prev.dir, row.storedPath);
  try {
    await dirs.make(path.dirname(final));
    // A link appears whole, so the final name is linked at once; a name a killed attempt left behind
    // (EEXIST) is replaced atomically through a temporary name. Sync, as small files are copied
    // (stages/snapshot-small.ts): one link costs less than a hop to the thread pool.
    try {
      linkSync(from, final);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      replaceByLink(from, final);
    }
  } catch {
    return null;
  }
  return {
    path: row.path,
    storedPath: row.storedPath,
    cls: row.cls,
    size: row.size,
    sha256: row.sha256,
    hasWal: row.hasWal,
    encrypted: row.encrypted ?? null,
    attrs: row.attrs ?? null,
    pathBytes: file.pathBytes?.subarray(1) ?? null,
  };
}

/** Links `from` to a temporary name beside `final`, then renames it over `final`. */
function replaceByLink(from: string, final: string): void {
  const temp = tempPathIn(path.dirname(final));
  linkSync(from, temp);
  try {
    // Not commitTemp: the inode is already read-only, and a chmod would touch the older backup's copy.
    renameSync(temp, final);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** Whether a stored copy still holds what its row says (a copy that cannot be read does not). */
async function stillAsRecorded(file: string, row: FileRow): Promise<boolean> {
  const want = storedBlob(row);
  const got = await hashFile(file).catch(() => null);
  return got !== null && got.sha256 === want.sha256 && got.size === want.size;
}
