import type { RestoreFile, RestoreResult } from '@fleet-backup/runtime';
import { type ProgressState, startProgress } from '../progress.ts';

/** What `restoreFiles` reports as it goes (its `onProgress`). */
interface Landed {
  path: string;
  files: number;
  bytes: number;
}

export interface RestoreBar {
  onProgress(p: Landed): void;
  /** A line printed above the bar, e.g. a copy failing and the next one being tried. */
  note(line: string): void;
  /** Ends the bar: the result on success, nothing when the restore failed. */
  finish(result?: RestoreResult): void;
}

/** Progress of a restore in bytes and files, from the files it is about to restore. */
export function restoreBar(files: RestoreFile[], json: boolean): RestoreBar {
  const total = files.reduce((n, f) => n + f.size, 0);
  const progress = startProgress('restore', { json });
  let last: ProgressState = {
    unit: 'bytes',
    done: 0,
    total,
    files: { done: 0, total: files.length },
    stage: 'starting',
  };
  progress.update(last);
  return {
    onProgress(p) {
      last = { ...last, done: p.bytes, files: { done: p.files, total: files.length }, stage: p.path };
      progress.update(last);
    },
    note: (line) => progress.note(line),
    finish(result) {
      if (!result) return progress.finish({ ...last, failed: true, stage: 'failed' });
      progress.finish({
        ...last,
        done: result.bytes,
        files: { done: result.files.length, total: files.length },
        stage: 'done, every sha256 matched',
      });
    },
  };
}
