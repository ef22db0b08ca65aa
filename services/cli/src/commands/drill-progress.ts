import type { DrillProgress } from '@fleet-backup/runtime';
import { type Progress, type ProgressOptions, type ProgressState, startProgress } from '../progress.ts';

/**
 * `drill` progress from runDrill's events: files restored of the backup's, with its size, then
 * the SQLite checks. The bar starts only once a backup and copy are chosen, so an unknown host
 * or backup leaves nothing half drawn.
 */
export function drillProgress(opts: ProgressOptions = {}): (e: DrillProgress) => void {
  let progress: Progress | null = null;
  let state: ProgressState = { unit: 'files', done: 0, total: 0, stage: '' };
  const show = (next: Partial<ProgressState>) => {
    state = { ...state, ...next };
    progress?.update(state);
  };
  return (e) => {
    if (e.step === 'chosen') {
      progress = startProgress(`drill ${e.backupKey} from ${e.copy}`, opts);
      show({ total: e.files, size: e.bytes, stage: 'starting' });
    } else if (e.step === 'restoring') {
      // The event comes as a file starts: the ones before it are restored and checked.
      show({ done: e.index - 1, stage: e.file });
    } else if (e.step === 'checking') {
      show({ done: state.total, stage: `every sha256 matched; checking ${e.databases} SQLite database(s)` });
    } else {
      progress?.finish({
        ...state,
        failed: !e.ok,
        stage: e.ok ? 'passed' : 'failed',
      });
    }
  };
}
