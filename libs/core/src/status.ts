export const STAGES = ['snapshot', 'hash', 'replicate', 'verify'] as const;
export type StageName = (typeof STAGES)[number];
export type StageStatus = 'pending' | 'running' | 'done' | 'failed';
export type CopyStatus = 'pending' | 'replicated' | 'verified' | 'corrupt';
export type BackupStatus = 'running' | 'verified' | 'unverified' | 'incomplete' | 'failed';

/** The host's own backup root is a copy too; it is checked by the hash stage, on the agent. */
export const LOCAL_COPY = 'local';

/**
 * A backup's status from its stages and copies:
 * failed when a stage has used up its attempts; verified only when every configured copy
 * matched; unverified when all checks ran but a copy did not match; running otherwise. A
 * snapshot that found required files `missing` ends incomplete instead of verified or
 * unverified: its copies still verify (what it holds stays intact), but it never counts as a
 * good backup of its sources.
 */
export function deriveStatus(
  stages: { status: StageStatus }[],
  copies: { status: CopyStatus }[],
  missing: readonly string[] = [],
): BackupStatus {
  if (stages.some((s) => s.status === 'failed')) return 'failed';
  const allVerified = copies.length > 0 && copies.every((c) => c.status === 'verified');
  const ended = allVerified || stages.every((s) => s.status === 'done');
  if (ended && missing.length > 0) return 'incomplete';
  if (allVerified) return 'verified';
  if (ended) return 'unverified';
  return 'running';
}
