import type { BackupDetail } from '@fleet-backup/db';
import type { ProgressState } from '../progress.ts';

/**
 * Where a backup stands, from the rows `backup --wait` polls: its pipeline steps (snapshot,
 * hash, then replicate and verify per target) and its copies. Files and bytes are known only
 * once the snapshot recorded them; until then they are left out rather than guessed.
 */
export function backupState(d: BackupDetail): ProgressState {
  const done = d.stages.filter((s) => s.status === 'done').length;
  const state: ProgressState = {
    unit: 'steps',
    done,
    total: d.stages.length,
    stage: stageText(d),
    copies: { done: d.copies.filter((c) => c.status === 'verified').length, total: d.copies.length },
    failed: d.backup.status === 'failed',
  };
  if (d.files.length) {
    state.files = { done: d.files.length, total: d.files.length };
    state.size = d.files.reduce((n, f) => n + f.size, 0);
  }
  return state;
}

/** `replicate s3, gcs running`, `waiting for hash`, or the status once the backup ended. */
function stageText(d: BackupDetail): string {
  if (d.backup.status !== 'running') return d.backup.status;
  const running = d.stages.filter((s) => s.status === 'running');
  const next = d.stages.find((s) => s.status === 'pending');
  const name = (s: { stage: string; target: string }) => `${s.stage}${s.target ? ` ${s.target}` : ''}`;
  if (running.length) return `${running.map(name).join(', ')} running`;
  if (next) return `waiting for ${name(next)}${next.error ? ` (retrying: ${next.error})` : ''}`;
  return 'finishing';
}
