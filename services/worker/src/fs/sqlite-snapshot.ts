import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open, unlink } from 'node:fs/promises';
import { backup, DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermanentFailure, SQLITE_HEADER } from '@fleet-backup/core';
import { isSqliteFile } from '@fleet-backup/runtime';
import { tempPathIn } from './atomic-copy.ts';
import { confirmOpened, type ExpectedDatabase, openDescriptors } from './sqlite-guard.ts';

/** A consistent copy of a live SQLite database, written to a temporary file beside its final name. */
export interface SqliteSnapshot {
  kind: 'snapshot';
  tempPath: string;
  sha256: string;
  size: number;
  /** The source is in WAL mode and has a `-wal` file (the seed's `has_wal`). */
  hasWal: boolean;
}

/** The file is not a database SQLite can read: the caller copies it as a plain file and says why. */
export interface NotSqlite {
  kind: 'not-sqlite';
  reason: string;
}

export interface SqliteSnapshotOptions {
  /** The file's first bytes, already read from the descriptor the caller verified (skips a read by name). */
  head?: Buffer;
  /** The file the caller verified: SQLite, which opens by name, must have opened exactly it (sqlite-guard.ts). */
  expect?: ExpectedDatabase;
  /** Attempts to take the read lock before giving up (a writer holding the database exclusively). */
  attempts?: number;
  /** First wait between attempts, doubled each time. */
  backoffMs?: number;
  /** SQLite's own busy timeout per attempt. */
  busyTimeoutMs?: number;
}

// Primary result codes (the low byte of an extended code).
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/**
 * Snapshots a live SQLite database through SQLite's online backup API into a temporary file in
 * destDir, then hashes and fsyncs that file. A raw `cp` of a live database can be torn; this copy
 * holds exactly the transactions committed when the read transaction began, including those still
 * only in the `-wal` file (the backup reads pages through SQLite, which merges the WAL), so no
 * `-wal` needs storing beside it.
 */
export async function snapshotSqlite(
  src: string,
  destDir: string,
  signal: AbortSignal,
  opts: SqliteSnapshotOptions = {},
): Promise<SqliteSnapshot | NotSqlite> {
  const isSqlite = opts.head ? startsWithHeader(opts.head) : await isSqliteFile(src);
  if (!isSqlite) {
    return { kind: 'not-sqlite', reason: 'named like a database but has no SQLite header' };
  }
  await mkdir(destDir, { recursive: true });
  const tempPath = tempPathIn(destDir);
  let db: DatabaseSync | null = null;
  try {
    db = await openWithReadLock(src, signal, opts);
    const walMode = String(db.prepare('PRAGMA journal_mode').get()?.journal_mode).toLowerCase() === 'wal';
    // The read transaction opened above is held across every step, so the copy is one point in
    // time and writers on other connections cannot make the backup restart (or loop forever).
    await backup(db, tempPath, { rate: 1000 });
    // Databases often hold credentials: the copy is as private as every other stored file.
    await chmod(tempPath, 0o600);
    const hasWal = walMode && ((await lstat(`${src}-wal`).catch(() => null))?.isFile() ?? false);
    db.exec('COMMIT');
    db.close();
    db = null;
    await removeCompanions(tempPath);
    const sealed = await hashAndSync(tempPath);
    return { kind: 'snapshot', tempPath, ...sealed, hasWal };
  } catch (err) {
    await unlink(tempPath).catch(() => {});
    await removeCompanions(tempPath);
    if (isCode(err, SQLITE_CORRUPT, SQLITE_NOTADB)) {
      return {
        kind: 'not-sqlite',
        reason: `has a SQLite header but SQLite cannot read it (${message(err)})`,
      };
    }
    throw err;
  } finally {
    if (db?.isOpen) db.close();
  }
}

/**
 * Opens the source read-only (a read-only connection never checkpoints or deletes the
 * application's `-wal` on close) and begins a read transaction, retrying with backoff while
 * another process holds the database locked.
 */
async function openWithReadLock(
  src: string,
  signal: AbortSignal,
  opts: SqliteSnapshotOptions,
): Promise<DatabaseSync> {
  const attempts = opts.attempts ?? 5;
  let wait = opts.backoffMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted();
    const before = opts.expect ? openDescriptors() : null;
    const db = new DatabaseSync(src, { readOnly: true, timeout: opts.busyTimeoutMs ?? 2000 });
    try {
      db.exec('BEGIN');
      // A read transaction starts lazily: this read takes the shared lock (or the WAL snapshot),
      // and opens the -wal and -shm, so every file SQLite will read is open by now.
      db.prepare('SELECT count(*) AS n FROM sqlite_schema').get();
      if (before && opts.expect) confirmOpened(before, opts.expect);
      return db;
    } catch (err) {
      db.close();
      if (!isCode(err, SQLITE_BUSY, SQLITE_LOCKED)) throw err;
      if (attempt >= attempts) {
        throw new PermanentFailure(
          `database ${src} stayed locked by another process through ${attempts} attempts (${message(err)}); ` +
            'retry the backup when the writer releases it, or exclude the file',
          { path: src },
        );
      }
      await sleep(wait, undefined, { signal });
      wait *= 2;
    }
  }
}

/** The backup's own journal beside the temporary file, left only if SQLite was interrupted. */
async function removeCompanions(tempPath: string): Promise<void> {
  for (const suffix of ['-journal', '-wal', '-shm']) await unlink(`${tempPath}${suffix}`).catch(() => {});
}

/** Hashes the finished copy (what is stored is what is recorded) and fsyncs it. */
async function hashAndSync(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  const handle = await open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), size };
}

function startsWithHeader(head: Buffer): boolean {
  return head.length >= SQLITE_HEADER.length && head.subarray(0, SQLITE_HEADER.length).equals(SQLITE_HEADER);
}

function isCode(err: unknown, ...codes: number[]): boolean {
  const code = (err as { errcode?: unknown }).errcode;
  return typeof code === 'number' && codes.includes(code & 0xff);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
