import { LOCAL_COPY } from '@fleet-backup/core';
import type { CopyRow } from '@fleet-backup/db';

/** Why a drill could not run or did not pass; the message is the recorded reason. */
export class DrillFailure extends Error {
  /** Set when the copy itself served bad or missing bytes: the copy is then marked corrupt. */
  readonly badCopy: { target: string; path: string } | null;
  constructor(message: string, badCopy: { target: string; path: string } | null = null) {
    super(message);
    this.name = 'DrillFailure';
    this.badCopy = badCopy;
  }
}

/**
 * The one copy a drill restores from. `from` (a target name or kind) picks it; otherwise a
 * verified offsite copy, else a verified copy on another disk. The host's own copy is never
 * drilled: it lives on the host, and the drill proves the copies that survive losing the host.
 */
export function chooseDrillCopy(backupKey: string, copies: CopyRow[], from: string | null): CopyRow {
  const onTargets = copies.filter((c) => c.target !== LOCAL_COPY);
  const names = onTargets.map((c) => `${c.target} (${c.status})`).join(', ') || 'none';
  if (from) {
    const copy =
      onTargets.find((c) => c.target === from) ?? preferVerified(onTargets.filter((c) => c.kind === from));
    if (!copy)
      throw new DrillFailure(`backup ${backupKey} has no copy "${from}" on a target (copies: ${names})`);
    if (copy.status !== 'verified') {
      throw new DrillFailure(
        `copy ${copy.target} of backup ${backupKey} is ${copy.status}, not verified; drill another copy or verify it first`,
      );
    }
    return copy;
  }
  const verified = onTargets.filter((c) => c.status === 'verified');
  const copy = verified.find((c) => c.offsite) ?? verified[0];
  if (!copy)
    throw new DrillFailure(`backup ${backupKey} has no verified copy on a target (copies: ${names})`);
  return copy;
}

function preferVerified(copies: CopyRow[]): CopyRow | undefined {
  return copies.find((c) => c.status === 'verified') ?? copies[0];
}

/**
 * The reason a file failed to restore from the drilled copy, naming the file and the copy,
 * e.g. `etc/app.yaml from copy s3: sha256 mismatch (bytes hash to …, expected …)`.
 */
export function restoreFailureReason(filePath: string, copy: string, error: string): string {
  const detail = error.startsWith(`${filePath}: `) ? error.slice(filePath.length + 2) : error;
  const what = /bytes hash to/.test(detail) ? `sha256 mismatch (${detail})` : detail;
  return `${filePath} from copy ${copy}: ${what}`;
}
