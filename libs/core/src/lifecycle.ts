import type { BackupKind } from './kinds.ts';

/**
 * Where a backup is in its life, in the `lifecycle` column next to the seed's own values
 * (`verified` for a pre_change whose change is verified). Expiry marks a backup `expiring` or
 * `retiring` before it removes any copy, and `expired` or `retired` once every copy is gone, so a
 * crash in between leaves a backup that says it is going, never one that looks intact.
 */
export const LIFECYCLE_ENDING = ['expiring', 'retiring'] as const;
export const LIFECYCLE_ENDED = ['expired', 'retired'] as const;
export type EndingLifecycle = (typeof LIFECYCLE_ENDING)[number];
export type EndedLifecycle = (typeof LIFECYCLE_ENDED)[number];

/** Every lifecycle value that means "no longer a backup to rely on". */
export const LIFECYCLE_GONE: readonly string[] = [...LIFECYCLE_ENDING, ...LIFECYCLE_ENDED];

/** True while the backup is kept: not marked for removal and not removed. */
export function isKept(lifecycle: string | null): boolean {
  return lifecycle === null || !LIFECYCLE_GONE.includes(lifecycle);
}

/** True once every copy is removed. */
export function isEnded(lifecycle: string | null): boolean {
  return lifecycle === 'expired' || lifecycle === 'retired';
}

/** Pre-change backups retire (the seed's word); dailies and manual backups expire. */
export function endingFor(kind: BackupKind): EndingLifecycle {
  return kind === 'pre_change' ? 'retiring' : 'expiring';
}

/** The final state of a backup marked `ending`. */
export function endedFor(ending: EndingLifecycle): EndedLifecycle {
  return ending === 'retiring' ? 'retired' : 'expired';
}
