import type { BackupProgress } from '@fleet-backup/db';
import type { ProgressState } from '../progress.ts';

/** A backup's recorded files and their bytes, read once its snapshot is done. */
export interface FileTotals {
  files: number;
  bytes: number;
}

/**
 * Where a backup stands, from the rows `backup --wait` polls: its pipeline steps (snapshot,
 * hash, then replicate and verify per target) and its copies. Files and bytes are known only
 * once the snapshot recorded them; until then they are left out rather than guessed.
 */
export function backupState(d: BackupProgress, totals: FileTotals | null = null): ProgressState {
  const done = d.stages.filter((s) => s.status === 'done').length;
  const state: ProgressState = {
    unit: 'steps',
    done,
    total: d.stages.length,
    stage: stageText(d),
    copies: { done: d.copies.filter((c) => c.status === 'verified').length, total: d.copies.length },
    failed: d.backup.status === 'failed',
  };
  if (totals?.files) {
    state.files = { done: totals.files, total: totals.files };
    state.size = totals.bytes;
  }
  return state;
}

/** `replicate s3, gcs running`, `waiting for hash`, or the status once the backup ended. */
function stageText(d: BackupProgress): string {
  if (d.backup.status !== 'running') return d.backup.status;
  const running = d.stages.filter((s) => s.status === 'running');
  const next = d.stages.find((s) => s.status === 'pending');
  const name = (s: { stage: string; target: string }) => `${s.stage}${s.target ? ` ${s.target}` : ''}`;
  if (running.length) return `${running.map(name).join(', ')} running`;
  if (next) return `waiting for ${name(next)}${next.error ? ` (retrying: ${next.error})` : ''}`;
  return 'finishing';
}
