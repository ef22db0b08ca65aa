export const STAGES = ['snapshot', 'hash', 'replicate', 'verify'] as const;
export type StageName = (typeof STAGES)[number];
export type StageStatus = 'pending' | 'running' | 'done' | 'failed';
export type CopyStatus = 'pending' | 'replicated' | 'verified' | 'corrupt';
export type BackupStatus = 'running' | 'verified' | 'unverified' | 'failed';

/** The host's own backup root is a copy too; it is checked by the hash stage, on the agent. */
export const LOCAL_COPY = 'local';

/**
 * A backup's status from its stages and copies:
 * failed when a stage has used up its attempts; verified only when every configured copy
 * matched; unverified when all checks ran but a copy did not match; running otherwise.
 */
export function deriveStatus(
  stages: { status: StageStatus }[],
  copies: { status: CopyStatus }[],
): BackupStatus {
  if (stages.some((s) => s.status === 'failed')) return 'failed';
  if (copies.length > 0 && copies.every((c) => c.status === 'verified')) return 'verified';
  if (stages.every((s) => s.status === 'done')) return 'unverified';
  return 'running';
}
