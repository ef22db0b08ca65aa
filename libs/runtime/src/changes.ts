import { assertPathsInScope, BadInputError, isKept, type Principal } from '@fleet-backup/core';
import { type BackupRow, type ChangeReport, ChangeStore } from '@fleet-backup/db';
import type { Runtime } from './runtime.ts';

export interface ChangeReportRequest {
  ticket: string;
  /** The person or service reporting (`verified_by`, `reported_by`). */
  by: string;
  reason?: string;
  /** How it arrived: the API token's name, or `cli`; recorded with the event. */
  via: string;
  /** An API caller: a pre_change token may only report on backups it could have asked for. */
  principal?: Principal;
}

/** The change is verified: its pre-change backups become `verified` in the seed, with who and when. */
export async function verifyChange(rt: Runtime, req: ChangeReportRequest) {
  const report = await new ChangeStore(rt.backups, rt.clock).verify(storeInput(req));
  return describeReport(report, 'verified');
}

/**
 * The change failed or was rolled back: the backups stay `pending_verification`, the report is
 * recorded, and the answer names the one command that puts the files back.
 */
export async function failChange(rt: Runtime, req: ChangeReportRequest) {
  if (!req.reason?.trim()) throw new BadInputError('a failed change needs a reason');
  const report = await new ChangeStore(rt.backups, rt.clock).fail(storeInput(req));
  const view = describeReport(report, 'failed');
  return { ...view, restore_commands: view.backups.flatMap((b) => (b.restore ? [b.restore.command] : [])) };
}

/**
 * The command that rolls a host's files back to the backup: restore in place (`--to /`), from the
 * nearest intact copy, overwriting what the change left. Files the change added are not removed.
 */
export function restoreCommand(backup: Pick<BackupRow, 'id'>): string {
  return `fleet-backup restore ${backup.id} --to / --from auto --force`;
}

function storeInput(req: ChangeReportRequest) {
  const { principal } = req;
  return {
    ticket: req.ticket,
    actor: req.by,
    via: req.via,
    ...(req.reason ? { reason: req.reason } : {}),
    ...(principal ? { check: (b: BackupRow) => assertPathsInScope(principal, b.host, b.request.paths) } : {}),
  };
}

function describeReport(report: ChangeReport, event: 'verified' | 'failed') {
  return {
    ticket: report.ticket,
    event,
    backups: report.backups.map((b) => {
      const entry = b.entry as {
        status?: string;
        verified_by?: string | null;
        verified_date?: string | null;
      };
      const live = isKept(b.lifecycle);
      return {
        id: b.id,
        host: b.host,
        key: b.key,
        status: b.status,
        change_status: entry.status ?? null,
        verified_by: entry.verified_by ?? null,
        verified_date: entry.verified_date ?? null,
        changed: report.changed.includes(b.id),
        ...(event === 'failed'
          ? {
              restore: live
                ? {
                    command: restoreCommand(b),
                    note: `run it on ${b.host}: it puts every backed-up file back as it was before the change (files the change added stay); to look first, use --to /tmp/restore-${b.key} without --force`,
                  }
                : null,
            }
          : {}),
      };
    }),
  };
}
