import type { BackupStatus, CopyStatus } from './status.ts';
import { LOCAL_COPY } from './status.ts';

/** How many verified offsite copies a backup needs, besides its hashed local copy, to count as safe. */
export interface SafetyRule {
  offsiteCopies: number;
}

export interface Safety {
  /** The local copy is hashed and enough offsite copies are verified: a change may start. */
  safe: boolean;
  localHashed: boolean;
  offsiteVerified: number;
  offsiteRequired: number;
  /** False when the backup cannot become safe without an operator (failed, corrupt, too few offsite targets, gone). */
  possible: boolean;
  /** One line for people: what makes it safe, or what it waits for, or why it never will. */
  reason: string;
}

export interface SafetyInput {
  status: BackupStatus;
  /** The seed lifecycle (null while the backup is live; `verified` once its change is). */
  lifecycle: string | null;
  copies: { target: string; offsite: boolean; status: CopyStatus }[];
  /** Required files its snapshot did not find: such a backup cannot protect a change. */
  missing?: readonly string[];
}

/**
 * Whether a pre-change backup is safe enough for its change to start: the local copy hashed
 * and at least `rule.offsiteCopies` offsite copies verified. Other copies (a second disk, a
 * failing extra target) do not hold it back: this answers "can I change things now", not 3-2-1.
 */
export function backupSafety(input: SafetyInput, rule: SafetyRule): Safety {
  const required = rule.offsiteCopies;
  const local = input.copies.find((c) => c.target === LOCAL_COPY);
  const localHashed = local?.status === 'verified';
  const offsite = input.copies.filter((c) => c.target !== LOCAL_COPY && c.offsite);
  const offsiteVerified = offsite.filter((c) => c.status === 'verified').length;
  const offsiteUsable = offsite.filter((c) => c.status !== 'corrupt').length;
  const figures = { localHashed, offsiteVerified, offsiteRequired: required };
  const gone = input.lifecycle !== null && input.lifecycle !== 'verified';
  if (gone) return { safe: false, possible: false, ...figures, reason: `the backup is ${input.lifecycle}` };
  if (input.missing?.length) {
    return {
      safe: false,
      possible: false,
      ...figures,
      reason: `required files missing: ${input.missing.join(', ')}; restore or fix them, then request a new backup`,
    };
  }
  const plural = required === 1 ? 'copy' : 'copies';
  if (localHashed && offsiteVerified >= required) {
    return {
      safe: true,
      possible: true,
      ...figures,
      reason: `local copy hashed and ${offsiteVerified} offsite ${offsiteVerified === 1 ? 'copy' : 'copies'} verified (${required} required)`,
    };
  }
  const never = (reason: string): Safety => ({ safe: false, possible: false, ...figures, reason });
  if (local?.status === 'corrupt') return never('the local copy does not match its snapshot');
  if (offsiteUsable < required) {
    return never(
      `needs ${required} verified offsite ${plural} but only ${offsiteUsable} offsite target${offsiteUsable === 1 ? '' : 's'} can provide one; configure offsite targets or lower SAFE_OFFSITE_COPIES`,
    );
  }
  if (input.status === 'failed')
    return never('a stage failed; retry it in Bull Board or request a new backup');
  if (input.status !== 'running')
    return never(`the pipeline ended ${input.status} without enough verified copies`);
  const waiting = localHashed
    ? `waiting for offsite copies to verify (${offsiteVerified} of ${required})`
    : 'waiting for the local copy to be written and hashed';
  return { safe: false, possible: true, ...figures, reason: waiting };
}
