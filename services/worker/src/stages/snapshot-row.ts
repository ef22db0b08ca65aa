import type { BigIntStats } from 'node:fs';
import {
  attributesOf,
  type FoundFile,
  type OpenedFile,
  type OwnerNames,
  type SkippedItem,
  type TreeReader,
} from '@fleet-backup/capture';
import { type FileClass, isGeneratedItem, type Keyring, metadataPath, storedPath } from '@fleet-backup/core';
import type { FileRow } from '@fleet-backup/db';
import type { DirMaker } from '../fs/atomic-copy.ts';

export type SnapshotRow = Omit<FileRow, 'hashedAt'>;

export interface CopyContext {
  signal: AbortSignal;
  /** Skipped files and notes on stored ones, as `show` lists them. */
  notes: SkippedItem[];
  /** Databases taken through SQLite so far (libs/capture/src/take-or-skip.ts decides their companions). */
  snapshotted: Set<string>;
  keyring: Keyring;
  reader: TreeReader;
  names: OwnerNames;
  /** Directories made so far: each once, however many files go into it. */
  dirs?: DirMaker;
}

/** Stored as its bytes were read, though they moved while being read: `show` prints it as a note. */
export const COPIED_WHILE_WRITTEN =
  'copied as it was being written (its size or modification time changed during the copy): the stored copy may mix old and new content';

/**
 * What a stored file's row says besides its content: its names, class and attributes (from the
 * opened file's fstat). Generated items keep their own names and record no attributes (the staging
 * file's say nothing about the host); every host file gets its class suffix.
 */
export function storedRowOf(
  file: FoundFile,
  cls: FileClass,
  opened: Pick<OpenedFile, 'at' | 'stat'>,
  ctx: { reader: TreeReader; names: OwnerNames },
): Pick<SnapshotRow, 'path' | 'storedPath' | 'cls' | 'attrs' | 'pathBytes'> {
  const rel = metadataPath(file.path);
  const generated = file.from.kind === 'staged' && isGeneratedItem(file.path);
  return {
    path: rel,
    storedPath: generated ? rel : storedPath(file.path, cls),
    cls,
    attrs: generated ? null : attributesOf(opened.stat, ctx.names, ctx.reader.xattrsOf(opened, file.path)),
    pathBytes: file.pathBytes?.subarray(1) ?? null,
  };
}

/** A file SQLite cannot read is in no journal mode, so it has no WAL to speak of. */
export function plainHasWal(cls: FileClass, p: string): boolean | null {
  return cls === 'database' && p.endsWith('.db') ? false : null;
}

/** A file written to while we read it: kept (a later backup takes it whole), and said so. */
export function noteIfMoved(
  file: FoundFile,
  before: BigIntStats,
  after: BigIntStats,
  notes: SkippedItem[],
): void {
  if (after.size !== before.size || after.mtimeNs !== before.mtimeNs)
    notes.push({ path: file.path, reason: COPIED_WHILE_WRITTEN });
}
