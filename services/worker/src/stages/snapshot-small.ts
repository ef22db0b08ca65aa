import { createHash } from 'node:crypto';
import { fstatSync } from 'node:fs';
import path from 'node:path';
import { type FoundFile, isDatabaseCompanion, type TreeSource } from '@fleet-backup/capture';
import { classify, SQLITE_HEADER } from '@fleet-backup/core';
import { DirMaker, writeSmallSync } from '../fs/atomic-copy.ts';
import { giveReadBuffer, SMALL_READ, takeReadBuffer } from '../fs/buffer-pool.ts';
import { readUpToSync } from '../fs/hash-file.ts';
import { type CopyContext, noteIfMoved, plainHasWal, type SnapshotRow, storedRowOf } from './snapshot-row.ts';

/** snapshotSmallFile's answer for a file it leaves to snapshotFile's general path. */
export const TAKE_GENERAL_PATH = Symbol('take the general path');

/**
 * snapshotFile for the common case, a small plain file of the host, with synchronous calls once
 * its directory is open: open, fstat, read, write, rename. Profiled on 20,000 files of 1–8 KiB,
 * the nine hops to the thread pool per file (and the futex wake-ups behind them) cost several
 * times what the same calls cost made directly. The checks are snapshotFile's: the file is reached
 * through its verified directory without following a symlink, must still be the one listed, and
 * the final name appears only once its bytes are all written. The caller gives the event loop its
 * turns (TimeSlice).
 *
 * Returns TAKE_GENERAL_PATH for a file that grew past SMALL_READ since it was listed or that is a
 * database (snapshotted through SQLite). Throws what TreeReader.open throws.
 */
export async function snapshotSmallFile(
  file: FoundFile,
  from: TreeSource,
  dir: string,
  ctx: CopyContext,
): Promise<SnapshotRow | typeof TAKE_GENERAL_PATH> {
  const opened = await ctx.reader.openFd(file.path, from);
  try {
    const size = Number(opened.stat.size);
    if (size > SMALL_READ) return TAKE_GENERAL_PATH;
    const buf = takeReadBuffer(size);
    try {
      // At most the size when opened, as copyToTemp takes: a file growing meanwhile is noted below.
      const bytes = buf.subarray(0, readUpToSync(opened.fd, buf, size));
      const cls = classify(file.path, bytes.subarray(0, SQLITE_HEADER.length), file.config);
      if (cls === 'database' && !isDatabaseCompanion(file.path)) return TAKE_GENERAL_PATH;
      const row = storedRowOf(file, cls, opened, ctx);
      const destDir = path.join(dir, path.posix.dirname(row.path));
      await (ctx.dirs ?? new DirMaker()).make(destDir);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      writeSmallSync(bytes, destDir, path.join(dir, row.storedPath), file.path);
      noteIfMoved(file, opened.stat, fstatSync(opened.fd, { bigint: true }), ctx.notes);
      return { ...row, size: bytes.length, sha256, hasWal: plainHasWal(cls, file.path), encrypted: null };
    } finally {
      giveReadBuffer(buf);
    }
  } finally {
    await opened.close();
  }
}
