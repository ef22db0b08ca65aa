import { isUtf8 } from 'node:buffer';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  COPIED_PLAIN_NOTE,
  classify,
  type FileClass,
  isGeneratedItem,
  type Keyring,
  metadataPath,
  Sealer,
  SQLITE_HEADER,
  storedPath,
} from '@fleet-backup/core';
import type { FileRow } from '@fleet-backup/db';
import { isDatabaseCompanion } from '../capture/take-or-skip.ts';
import {
  commitTemp,
  copyPathToTemp,
  copyToTemp,
  type DirMaker,
  readSmallFile,
  type SmallFile,
} from '../fs/atomic-copy.ts';
import { attributesOf } from '../fs/attributes.ts';
import { type FoundFile, joinBytes, type SkippedItem } from '../fs/found.ts';
import type { OwnerNames } from '../fs/owner-names.ts';
import { type NotSqlite, readHead, type SqliteSnapshot, snapshotSqlite } from '../fs/sqlite-snapshot.ts';
import type { OpenedFile, TreeReader } from '../fs/tree-reader.ts';
import { EntryChanged, EntryVanished } from '../fs/verified-open.ts';

export type SnapshotRow = Omit<FileRow, 'hashedAt'>;

export interface CopyContext {
  signal: AbortSignal;
  /** Skipped files and notes on stored ones, as `show` lists them. */
  notes: SkippedItem[];
  /** Databases taken through SQLite so far (capture/take-or-skip.ts decides their companions). */
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
 * Copies one found file into the backup directory, or skips it with the reason in `notes`: a file
 * that changed under us (replaced, moved, turned into a symlink) or vanished is never stored. The
 * file is opened once (fs/tree-reader.ts); its attributes come from that descriptor's fstat.
 * Databases are snapshotted through SQLite. A generated item that went missing throws: the attempt
 * fails and its retry regenerates it.
 */
export async function snapshotFile(
  file: FoundFile,
  dir: string,
  ctx: CopyContext,
): Promise<SnapshotRow | null> {
  let opened: OpenedFile;
  try {
    opened = await ctx.reader.open(file);
  } catch (err) {
    return skipIfChanged(err, file, ctx.notes);
  }
  try {
    return await copyOpened(file, opened, dir, ctx);
  } catch (err) {
    return skipIfChanged(err, file, ctx.notes);
  } finally {
    await opened.close();
  }
}

function skipIfChanged(err: unknown, file: FoundFile, notes: SkippedItem[]): null {
  if (err instanceof EntryChanged || err instanceof EntryVanished) {
    notes.push({ path: file.path, reason: err.message });
    return null;
  }
  throw err;
}

async function copyOpened(
  file: FoundFile,
  opened: OpenedFile,
  dir: string,
  ctx: CopyContext,
): Promise<SnapshotRow> {
  const small = await readSmallFile(opened.handle, Number(opened.stat.size));
  try {
    return await copyRead(file, opened, small, dir, ctx);
  } finally {
    small?.release();
  }
}

/** copyOpened, with a small file's bytes already read: its head comes from them, and they are not read again. */
async function copyRead(
  file: FoundFile,
  opened: OpenedFile,
  small: SmallFile | null,
  dir: string,
  ctx: CopyContext,
): Promise<SnapshotRow> {
  const rel = metadataPath(file.path);
  const destDir = path.join(dir, path.posix.dirname(rel));
  const head = small ? small.bytes.subarray(0, SQLITE_HEADER.length) : await readHead(opened.handle);
  const cls = classify(file.path, head, file.config);
  // Generated items keep their own names; every host file gets its class suffix.
  const generated = file.from.kind === 'staged' && isGeneratedItem(file.path);
  const row = {
    path: rel,
    storedPath: generated ? rel : storedPath(file.path, cls),
    cls,
    // The staging file's mode, owner and mtime say nothing about the host: none recorded.
    attrs: generated ? null : attributesOf(opened.stat, ctx.names, ctx.reader.xattrsOf(opened, file.path)),
    pathBytes: file.pathBytes?.subarray(1) ?? null,
  };
  // The caller skips a sensitive file when no key is configured; Sealer refuses one anyway.
  const seal = () => (file.sensitive ? new Sealer(ctx.keyring) : undefined);
  if (cls === 'database' && !isDatabaseCompanion(file.path)) {
    const taken = await snapshotDatabase(file, head, destDir, ctx.signal);
    if (taken.kind === 'snapshot') {
      const sealed = await sealSnapshot(taken.tempPath, destDir, ctx.signal, seal());
      // SQLite wrote this file (unless sealed): it is made read-only here.
      await commitTemp(sealed.tempPath, path.join(dir, row.storedPath), true);
      ctx.snapshotted.add(file.path);
      return {
        ...row,
        size: taken.size,
        sha256: taken.sha256,
        hasWal: taken.hasWal,
        encrypted: sealed.encrypted ?? null,
      };
    }
    // Not a database SQLite can read: still backed up, byte for byte, and the backup says so.
    ctx.notes.push({ path: file.path, reason: `${COPIED_PLAIN_NOTE}, not through SQLite: ${taken.reason}` });
  }
  const size = Number(opened.stat.size);
  const copied = await copyToTemp(
    { handle: opened.handle, size, label: file.path, ...(small && { bytes: small.bytes }) },
    destDir,
    ctx.signal,
    seal(),
    ctx.dirs,
  );
  await noteIfMoved(file, opened, ctx.notes);
  await commitTemp(copied.tempPath, path.join(dir, row.storedPath));
  return {
    ...row,
    size: copied.size,
    sha256: copied.sha256,
    hasWal: plainHasWal(cls, file.path),
    encrypted: copied.encrypted ?? null,
  };
}

/** A file SQLite cannot read is in no journal mode, so it has no WAL to speak of. */
function plainHasWal(cls: FileClass, p: string): boolean | null {
  return cls === 'database' && p.endsWith('.db') ? false : null;
}

/** A file written to while we read it: kept (a later backup takes it whole), and said so. */
async function noteIfMoved(file: FoundFile, opened: OpenedFile, notes: SkippedItem[]): Promise<void> {
  const after = await opened.handle.stat({ bigint: true });
  if (after.size !== opened.stat.size || after.mtimeNs !== opened.stat.mtimeNs)
    notes.push({ path: file.path, reason: COPIED_WHILE_WRITTEN });
}

/**
 * SQLite opens by name: it gets the verified real path, and sqlite-guard.ts checks that what it
 * opened is the file we hold open. A name that is not valid UTF-8 cannot be passed to it.
 */
async function snapshotDatabase(
  file: FoundFile,
  head: Buffer,
  destDir: string,
  signal: AbortSignal,
): Promise<SqliteSnapshot | NotSqlite> {
  if (file.from.kind !== 'tree') return { kind: 'not-sqlite', reason: 'not a file of the host' };
  const real = joinBytes(file.from.dir, file.from.name);
  if (!isUtf8(real)) {
    return { kind: 'not-sqlite', reason: 'its path is not valid UTF-8, and SQLite opens databases by name' };
  }
  const { dir, name, id } = file.from;
  return snapshotSqlite(real.toString(), destDir, signal, {
    head,
    expect: { id, dir, name, logical: file.path },
  });
}

/**
 * A sensitive database's SQLite snapshot is encrypted into a second temporary file and the
 * plaintext one removed at once. SQLite's backup API needs a real file to write, so this is the
 * one place plaintext touches the backup disk: a 0600 temporary name that no metadata lists,
 * removed here or, after a crash, by the next run's prune.
 */
async function sealSnapshot(
  tempPath: string,
  destDir: string,
  signal: AbortSignal,
  seal: Sealer | undefined,
): Promise<{ tempPath: string; encrypted?: NonNullable<SnapshotRow['encrypted']> }> {
  if (!seal) return { tempPath };
  try {
    const sealed = await copyPathToTemp(tempPath, destDir, signal, seal);
    return { tempPath: sealed.tempPath, ...(sealed.encrypted && { encrypted: sealed.encrypted }) };
  } finally {
    await unlink(tempPath).catch(() => {});
  }
}
