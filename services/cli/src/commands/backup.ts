import { NotFoundFailure } from '@fleet-backup/core';
import { type BackupProgress, backupProgress, fileTotals } from '@fleet-backup/db';
import { type Runtime, requestBackup } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { collect, wholeNumber } from '../options.ts';
import { startProgress } from '../progress.ts';
import { backupState, type FileTotals } from './backup-progress.ts';

interface BackupOptions {
  host: string;
  kind: string;
  path: string[];
  purpose?: string;
  description?: string;
  ticket?: string;
  retention?: string;
  creator?: string;
  notes?: string;
  wait?: boolean;
  check?: boolean;
  timeout?: number;
  json?: boolean;
  fullCheck?: boolean;
}

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('request a backup of one host and print its id')
    .requiredOption('--host <id>', 'the host to back up')
    .requiredOption('--kind <kind>', 'daily, pre_change or manual')
    .requiredOption('--path <path>', 'absolute path to back up (repeatable)', collect)
    .option('--purpose <text>', 'why (required for manual)')
    .option('--description <text>', 'short description; becomes part of the key')
    .option('--ticket <id>', 'change ticket (pre_change)')
    .option(
      '--retention <r>',
      'days_N, permanent or until_verified (pre_change); required for manual: days_N or permanent',
    )
    .option('--creator <name>', 'who asked (manual)')
    .option('--notes <text>', 'free notes (manual)')
    .option('--wait', 'return when the backup is verified (exit 0) or has failed or is incomplete (exit 1)')
    .option('--check', 'with --wait: exit 4 when the backup verified but is not 3-2-1')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)', wholeNumber)
    .option('--json', 'print one JSON object')
    .option(
      '--full-check',
      'copy every file afresh (link nothing from the previous backup) and re-read all of them',
    )
    .addHelpText(
      'after',
      '\nExample:\n  fleet-backup backup --host web-01 --kind manual --purpose "before disk swap" --retention days_30 --path /srv/app --wait',
    )
    .action(async (opts: BackupOptions) => {
      if (opts.check && !opts.wait) throw new CliError('--check goes with --wait', EXIT.usage);
      await withRuntime(async (rt) => {
        const { backup, created } = await requestBackup(rt, {
          host: opts.host,
          kind: opts.kind,
          paths: opts.path,
          description: opts.description,
          purpose: opts.purpose,
          creator: opts.creator,
          ticket: opts.ticket,
          retention: opts.retention,
          notes: opts.notes,
          ...(opts.fullCheck && { fullCheck: true }),
        });
        if (!opts.wait) {
          if (opts.json)
            printJson({ id: backup.id, key: backup.key, host: backup.host, status: backup.status, created });
          else console.log(backup.id);
          return;
        }
        const progress = startProgress(`backup ${backup.key}`, { json: opts.json });
        const detail = await waitForEnd(rt, backup.id, opts.timeout, (d, totals) =>
          progress.update(backupState(d, totals)),
        ).finally(() => progress.finish());
        const { status, compliance } = detail.backup;
        if (opts.json)
          printJson({
            id: backup.id,
            key: backup.key,
            host: backup.host,
            status,
            reason: reason(detail),
            compliance: compliance.summary,
          });
        else console.log(`${backup.id} ${status}${status === 'verified' ? '' : `: ${reason(detail)}`}`);
        if (status !== 'verified')
          throw new CliError(`backup ${backup.id} is ${status}: ${reason(detail)}`, EXIT.failed);
        if (opts.check && !compliance.ok)
          throw new CliError(
            `backup ${backup.id} verified but is unsafe: ${compliance.summary}`,
            EXIT.unsafe,
          );
      });
    });
}

/**
 * Polls Postgres (the source of truth) until the backup has verified, failed or ended unverified.
 * Each poll is one query over the backup's row, stages and copies, never its files (a backup of
 * 100,000 files costs the same to watch as one of ten); the file count shown is read once, when
 * the snapshot has recorded them.
 */
async function waitForEnd(
  rt: Runtime,
  id: string,
  timeoutSeconds: number | undefined,
  onPoll: (d: BackupProgress, totals: FileTotals | null) => void,
): Promise<BackupProgress> {
  const deadline = timeoutSeconds ? Date.now() + timeoutSeconds * 1000 : Number.POSITIVE_INFINITY;
  let totals: FileTotals | null = null;
  for (;;) {
    const progress = await backupProgress(rt.pool, id);
    if (!progress) throw new NotFoundFailure(`backup ${id} does not exist (forgotten while waiting?)`);
    if (!totals && progress.stages.some((s) => s.stage === 'snapshot' && s.status === 'done')) {
      totals = await fileTotals(rt.pool, id);
    }
    onPoll(progress, totals);
    if (progress.backup.status !== 'running') return progress;
    if (Date.now() > deadline)
      throw new CliError(`backup ${id} still running after ${timeoutSeconds}s`, EXIT.failed);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** What went wrong, in one line: missing required files, failed stages with their errors, then corrupt copies. */
export function reason(d: BackupProgress): string {
  const failed = d.stages.filter((s) => s.status === 'failed' || (s.error && s.status !== 'done'));
  const corrupt = d.copies.filter((c) => c.status === 'corrupt');
  const { missing } = d.backup;
  const parts = [
    ...(missing.length ? [`required files missing: ${missing.join(', ')}`] : []),
    ...failed.map((s) => `${s.stage}${s.target ? `(${s.target})` : ''}: ${s.error ?? s.status}`),
    ...corrupt.map((c) => `copy ${c.target} is corrupt`),
  ];
  return parts.join('; ') || d.backup.status;
}
