import { companionOf, type FoundFile, type SkippedItem, skipReason, TimeSlice } from '@fleet-backup/capture';
import { forEachLimited, PermanentFailure } from '@fleet-backup/core';
import type { JobContext } from '@fleet-backup/queue';
import type { DirMaker } from '../fs/atomic-copy.ts';
import { warnSensitiveSkipped } from '../stages/sensitive.ts';
import { snapshotFile } from '../stages/snapshot-file.ts';
import type { CopyContext, SnapshotRow } from '../stages/snapshot-row.ts';
import { linkUnchanged, type PreviousCopy, sourceEntryOf, unchangedRow } from './link-unchanged.ts';
import type { SourceEntry } from './source-index.ts';

/** Files in flight at once: enough to keep the disk and the thread pool busy on small files. */
export const FILES_IN_FLIGHT = 32;

/** One found file's outcome: its row, or null, and the notes said of it. */
interface Outcome {
  row: SnapshotRow | null;
  notes: SkippedItem[];
  linked: boolean;
}

/** What copyAll stored: rows in found order, and what each source file was (for the next backup). */
export interface Copied {
  files: SnapshotRow[];
  sources: Map<string, SourceEntry>;
  linked: number;
}

/**
 * Copies each file the shared take-or-skip rule takes (libs/capture/src/take-or-skip.ts, as `plan`
 * does), up to FILES_IN_FLIGHT at once. Rows and notes come out in the order the walk found the files,
 * whatever order the copies finish in. A database's `-wal`/`-shm`/`-journal` is decided only once
 * the database itself is done, as the rule needs.
 */
export async function copyAll(
  found: FoundFile[],
  dir: string,
  copy: CopyContext & { dirs: DirMaker },
  previous: PreviousCopy | null,
  log: JobContext['log'],
): Promise<Copied> {
  const outcomes: (Outcome | undefined)[] = new Array(found.length);
  const decisions = { keyId: copy.keyring.currentId, sqliteSnapshots: copy.snapshotted };
  // The copies a companion (`-wal`, `-shm`, `-journal`) waits for: only databases that have one.
  const waitedFor = new Set(found.map((f) => companionOf(f.path)).filter((db) => db !== null));
  const started = new Map<string, Promise<void>>();
  // Small files are copied and linked with synchronous calls (stages/snapshot-small.ts).
  const slice = new TimeSlice();
  const one = async (file: FoundFile, i: number): Promise<void> => {
    const db = companionOf(file.path);
    if (db) await started.get(db);
    await slice.pass();
    copy.signal.throwIfAborted();
    const notes: SkippedItem[] = [];
    const reason = skipReason(file, decisions);
    if (reason !== null) {
      notes.push({ path: file.path, reason });
      warnSensitiveSkipped(file, decisions.keyId, log);
      outcomes[i] = { row: null, notes, linked: false };
      return;
    }
    const unchanged = previous && unchangedRow(file, previous);
    const linked = unchanged && (await linkUnchanged(file, unchanged, dir, previous, copy.dirs));
    if (linked) outcomes[i] = { row: linked, notes, linked: true };
    else outcomes[i] = { row: await snapshotFile(file, dir, { ...copy, notes }), notes, linked: false };
  };
  await forEachLimited(found, FILES_IN_FLIGHT, (file, i) => {
    const done = one(file, i);
    if (waitedFor.has(file.path))
      started.set(
        file.path,
        done.catch(() => {}),
      );
    return done;
  });
  return inOrder(found, outcomes, copy.notes);
}

/** The rows in found order, each stored name once; the notes appended in the same order. */
function inOrder(found: FoundFile[], outcomes: (Outcome | undefined)[], notes: SkippedItem[]): Copied {
  const files: SnapshotRow[] = [];
  const sources = new Map<string, SourceEntry>();
  let linked = 0;
  const taken = new Map<string, string>();
  for (const [i, outcome] of outcomes.entries()) {
    if (!outcome) continue;
    notes.push(...outcome.notes);
    const row = outcome.row;
    if (!row) continue;
    const source = found[i] && sourceEntryOf(found[i], outcome.linked);
    if (source) sources.set(row.path, source);
    if (outcome.linked) linked++;
    const clash = taken.get(row.storedPath);
    if (clash) {
      throw new PermanentFailure(
        `${clash} and ${row.path} would both be stored as ${row.storedPath}; rename one or exclude it`,
      );
    }
    taken.set(row.storedPath, row.path);
    files.push(row);
  }
  return { files, sources, linked };
}
