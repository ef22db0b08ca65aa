import { backupSafety, type SafetyRule } from '@fleet-backup/core';
import type { BackupRow, CopyRow } from '@fleet-backup/db';

/** What safety is judged from: the backup's row (its entry read for the change only) and its copies. */
export interface SafetySubject {
  backup: Pick<BackupRow, 'status' | 'lifecycle' | 'missing' | 'kind' | 'request'> & { entry: unknown };
  copies: CopyRow[];
}

/**
 * What a service waiting on a backup needs beside `describeBackup`: whether it is safe to start
 * the change (`safe`), why or why not, whether it can still become safe, and for a pre_change
 * the state of its change as the seed records it.
 */
export function describeSafety(d: SafetySubject, rule: SafetyRule) {
  const { status, lifecycle, missing } = d.backup;
  const s = backupSafety({ status, lifecycle, missing, copies: d.copies }, rule);
  const entry = d.backup.entry as {
    status?: string;
    retention?: string;
    verified_by?: string | null;
    verified_date?: string | null;
  };
  return {
    safe: s.safe,
    safety: {
      local_hashed: s.localHashed,
      offsite_verified: s.offsiteVerified,
      offsite_required: s.offsiteRequired,
      possible: s.possible,
      reason: s.reason,
    },
    change:
      d.backup.kind === 'pre_change'
        ? {
            ticket: d.backup.request.ticket ?? null,
            status: entry.status ?? 'pending_verification',
            retention: entry.retention ?? null,
            verified_by: entry.verified_by ?? null,
            verified_date: entry.verified_date ?? null,
          }
        : null,
  };
}
