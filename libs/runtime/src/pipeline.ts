import { isKept } from '@fleet-backup/core';
import type { PipelineState } from '@fleet-backup/db';
import type { JobData, JobName } from '@fleet-backup/queue';

export interface PlannedJob<N extends JobName = JobName> {
  name: N;
  data: JobData<N>;
}

/**
 * The jobs a backup needs next, from its row and stages alone (never its files): snapshot, then hash, then one replicate
 * per target, each followed by that target's verify. Finished stages are never planned again,
 * failed ones wait for an operator's retry. Because job ids are deterministic, enqueueing this
 * plan any number of times (after each stage, or when rebuilding Redis from Postgres) is safe.
 */
export function nextJobs(detail: PipelineState): PlannedJob[] {
  const { id: backupId, host } = detail.backup;
  // A pre-change must never wait behind a daily: its agent stages take the urgent lane.
  const lane = detail.backup.kind === 'pre_change' ? { lane: 'urgent' as const } : {};
  // A backup marked to expire or retire is losing its copies: nothing is planned for it again.
  if (!isKept(detail.backup.lifecycle)) return [];
  const state = (stage: string, target = '') =>
    detail.stages.find((s) => s.stage === stage && s.target === target)?.status ?? 'done';
  const open = (stage: string, target = '') => ['pending', 'running'].includes(state(stage, target));
  if (state('snapshot') !== 'done')
    return open('snapshot') ? [{ name: 'snapshot', data: { backupId, host, ...lane } }] : [];
  if (state('hash') !== 'done')
    return open('hash') ? [{ name: 'hash', data: { backupId, host, ...lane } }] : [];
  const jobs: PlannedJob[] = [];
  for (const target of detail.backup.targets) {
    if (open('replicate', target))
      jobs.push({ name: 'replicate', data: { backupId, host, target, ...lane } });
    else if (state('replicate', target) === 'done' && open('verify', target)) {
      jobs.push({ name: 'verify', data: { backupId, host, target } });
    }
  }
  return jobs;
}
