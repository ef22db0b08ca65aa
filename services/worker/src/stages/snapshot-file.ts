import { isUtf8 } from 'node:buffer';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  EntryChanged,
  EntryVanished,
  type FoundFile,
  isDatabaseCompanion,
  joinBytes,
  type OpenedFile,
  readHead,
  type SkippedItem,
} from '@fleet-backup/capture';
import { COPIED_PLAIN_NOTE, classify, Sealer, SQLITE_HEADER } from '@fleet-backup/core';
import { commitTemp, copyPathToTemp, copyToTemp, readSmallFile, type SmallFile } from '../fs/atomic-copy.ts';
import { SMALL_READ } from '../fs/buffer-pool.ts';
import { type NotSqlite, type SqliteSnapshot, snapshotSqlite } from '../fs/sqlite-snapshot.ts';
import { type CopyContext, noteIfMoved, plainHasWal, type SnapshotRow, storedRowOf } from './snapshot-row.ts';
import { snapshotSmallFile, TAKE_GENERAL_PATH } from './snapshot-small.ts';

/**
 * Copies one found file into the backup directory, or skips it with the reason in `notes`: a file
 * that changed under us (replaced, moved, turned into a symlink) or vanished is never stored. The
 * file is opened once (libs/capture/src/tree-reader.ts); its attributes come from that descriptor's
 * fstat. Databases are snapshotted through SQLite. A generated item that went missing throws: the attempt
 * fails and its retry regenerates it.
 */
export async function snapshotFile(
  file: FoundFile,
  dir: string,
  ctx: CopyContext,
): Promise<SnapshotRow | null> {
  if (file.from.kind === 'tree' && !file.sensitive && file.size <= SMALL_READ) {
    try {
      const row = await snapshotSmallFile(file, file.from, dir, ctx);
      if (row !== TAKE_GENERAL_PATH) return row;
    } catch (err) {
      return skipIfChanged(err, file, ctx.notes);
    }
  }
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
  const head = small ? small.bytes.subarray(0, SQLITE_HEADER.length) : await readHead(opened.handle);
  const cls = classify(file.path, head, file.config);
  const row = storedRowOf(file, cls, opened, ctx);
  const destDir = path.join(dir, path.posix.dirname(row.path));
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
  noteIfMoved(file, opened.stat, await opened.handle.stat({ bigint: true }), ctx.notes);
  await commitTemp(copied.tempPath, path.join(dir, row.storedPath));
  return {
    ...row,
    size: copied.size,
    sha256: copied.sha256,
    hasWal: plainHasWal(cls, file.path),
    encrypted: copied.encrypted ?? null,
  };
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
