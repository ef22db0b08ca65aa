import { type ForgetProgress, forgetBackup } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { wholeNumber } from '../options.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ForgetCliOptions {
  host?: string;
  by: string;
  reason: string;
  force?: boolean;
  timeout: number;
  json?: boolean;
}

/** `forget`: remove a failed or mistaken backup for good, audited. */
export function registerForgetCommand(program: Command): void {
  program
    .command('forget <backup>')
    .description(
      'remove a backup that never verified (failed, unverified, incomplete), or any with --force: its local copy, its manifests and its catalog rows, audited; gc then deletes the blobs no other backup uses. BACKUP is an id, or a key with --host',
    )
    .option('--host <id>', 'the host, when BACKUP is a key that exists on several')
    .requiredOption('--by <name>', 'who forgets it (recorded and logged)')
    .requiredOption('--reason <text>', 'why (recorded and logged)')
    .option('--force', 'also a verified backup, one still running, or a pre_change whose change is pending')
    .option('--timeout <s>', "seconds to wait for the host's agent to remove the local copy", wholeNumber, 30)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  fleet-backup forget 6f0c… --by ana --reason "test run against the wrong path"\n  fleet-backup forget 20261201_0930_migration --host db-01 --by ana --reason "superseded" --force',
    )
    .action(async (backup: string, opts: ForgetCliOptions) => {
      await withRuntime(async (rt) => {
        const ref = UUID.test(backup) ? { id: backup } : { key: backup, host: opts.host ?? null };
        const progress = await forgetBackup(rt, ref, {
          by: opts.by,
          reason: opts.reason,
          force: opts.force ?? false,
          waitMs: opts.timeout * 1000,
        });
        if (opts.json) printJson(progress);
        else console.log(formatForget(progress));
        if (progress.pending.some((p) => p.error)) {
          throw new CliError(
            'some copies could not be removed; the producer retries every sweep, or run forget again',
            EXIT.failed,
          );
        }
      });
    });
}

/** `forget` as text: forgotten, or what it still waits for. */
export function formatForget(p: ForgetProgress): string {
  const name = `${p.host}/${p.key}`;
  const audit = `by ${p.by} at ${p.requestedAt.toISOString()}${p.forced ? ', forced' : ''}: ${p.reason}`;
  if (p.forgotten) {
    return `forgotten ${name} (${p.kind}, was ${p.status}) ${audit}; gc deletes the blobs no other backup references`;
  }
  const waiting = p.pending
    .map(
      (x) =>
        `${x.copy === 'local' ? `local copy (the agent of ${p.host})` : x.copy}${x.error ? ` (${x.error})` : ''}`,
    )
    .join(', ');
  return `forgetting ${name} (${p.kind}, was ${p.status}) ${audit}; still to remove: ${waiting}. It finishes on its own once they are gone`;
}
