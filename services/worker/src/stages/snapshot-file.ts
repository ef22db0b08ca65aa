import { unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  COPIED_PLAIN_NOTE,
  classify,
  type Keyring,
  metadataPath,
  PermanentFailure,
  Sealer,
  storedPath,
} from '@fleet-backup/core';
import type { FileRow } from '@fleet-backup/db';
import { commitTemp, copyToTemp } from '../fs/atomic-copy.ts';
import { readHead, snapshotSqlite } from '../fs/sqlite-snapshot.ts';
import type { FoundFile, SkippedItem } from '../fs/walk.ts';

/** SQLite's files beside a database: its write-ahead log, shared-memory index and rollback journal. */
const COMPANION = /^(.*)-(wal|shm|journal)$/;

export type SnapshotRow = Omit<FileRow, 'hashedAt'>;

/**
 * Copies one file into the backup directory, or skips it with a reason in `notes`. Databases
 * are snapshotted through SQLite; `snapshotted` holds the databases taken that way so far, whose
 * `-wal` / `-shm` / `-journal` companions are then skipped (the walker sorts `x.db` before
 * `x.db-wal`): the snapshot already holds every committed transaction, and a raw copy of a live
 * companion next to it could be torn and would mislead whoever restores.
 */
export async function snapshotFile(
  file: FoundFile,
  dir: string,
  signal: AbortSignal,
  notes: SkippedItem[],
  snapshotted: Set<string>,
  keyring: Keyring,
): Promise<SnapshotRow | null> {
  const companion = COMPANION.exec(file.path);
  if (companion?.[1] && snapshotted.has(companion[1])) {
    notes.push({
      path: file.path,
      reason: `SQLite -${companion[2]} file of ${companion[1]}: not stored, the SQLite snapshot of ${companion[1]} already holds its committed transactions`,
    });
    return null;
  }
  try {
    return await copyFile(file, dir, { signal, notes, snapshotted, keyring }, Boolean(companion));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      notes.push({ path: file.path, reason: 'vanished during the backup' });
      return null;
    }
    throw err;
  }
}

interface CopyContext {
  signal: AbortSignal;
  notes: SkippedItem[];
  snapshotted: Set<string>;
  keyring: Keyring;
}

async function copyFile(
  file: FoundFile,
  dir: string,
  { signal, notes, snapshotted, keyring }: CopyContext,
  isCompanion: boolean,
): Promise<SnapshotRow> {
  // The caller skips a sensitive file when no key is configured; Sealer refuses one anyway.
  const seal = () => (file.sensitive ? new Sealer(keyring) : undefined);
  const rel = metadataPath(file.path);
  const destDir = path.join(dir, path.posix.dirname(rel));
  const cls = classify(file.path, await headOf(file.readFrom), file.config);
  const stored = storedPath(file.path, cls);
  if (cls === 'database' && !isCompanion) {
    const taken = await snapshotSqlite(file.readFrom, destDir, signal);
    if (taken.kind === 'snapshot') {
      const sealed = await sealSnapshot(taken.tempPath, destDir, signal, seal());
      await commitTemp(sealed.tempPath, path.join(dir, stored));
      snapshotted.add(file.path);
      return {
        path: rel,
        storedPath: stored,
        cls,
        size: taken.size,
        sha256: taken.sha256,
        hasWal: taken.hasWal,
        encrypted: sealed.encrypted ?? null,
      };
    }
    // Not a database SQLite can read: still backed up, byte for byte, and the backup says so.
    notes.push({ path: file.path, reason: `${COPIED_PLAIN_NOTE}, not through SQLite: ${taken.reason}` });
  }
  const copied = await copyToTemp(file.readFrom, destDir, signal, seal());
  await commitTemp(copied.tempPath, path.join(dir, stored));
  // A file SQLite cannot read is in no journal mode, so it has no WAL to speak of.
  const hasWal = cls === 'database' && file.path.endsWith('.db') ? false : null;
  return {
    path: rel,
    storedPath: stored,
    cls,
    size: copied.size,
    sha256: copied.sha256,
    hasWal,
    encrypted: copied.encrypted ?? null,
  };
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
    const sealed = await copyToTemp(tempPath, destDir, signal, seal);
    return { tempPath: sealed.tempPath, ...(sealed.encrypted && { encrypted: sealed.encrypted }) };
  } finally {
    await unlink(tempPath).catch(() => {});
  }
}

/** The header read comes first now, so it must fail for good on permissions as the copy does. */
async function headOf(src: string): Promise<Buffer> {
  try {
    return await readHead(src);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new PermanentFailure(
        `cannot read ${src}: permission denied; grant the agent read access or exclude it`,
        { path: src, code },
      );
    }
    throw err;
  }
}
