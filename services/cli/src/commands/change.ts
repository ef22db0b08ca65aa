import os from 'node:os';
import { failChange, verifyChange } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';

export function registerChangeCommands(program: Command): void {
  const change = program
    .command('change')
    .description('report on the change a pre-change backup protects (by its change ticket)');

  change
    .command('verify <ticket>')
    .description(
      "the change worked: its pre-change backups become `verified` (the seed's verified_by, verified_date)",
    )
    .requiredOption('--by <name>', 'who verified it (verified_by)')
    .option('--json', 'print JSON')
    .action(async (ticket: string, opts: { by: string; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const report = await verifyChange(rt, { ticket, by: opts.by, via: 'cli' });
        if (opts.json) return printJson(report);
        for (const b of report.backups) {
          const note = b.changed ? '' : ' (unchanged)';
          console.log(
            `${b.host}/${b.key} ${b.change_status} by ${b.verified_by} at ${b.verified_date}${note}`,
          );
        }
      });
    });

  change
    .command('fail <ticket>')
    .description(
      'the change failed or was rolled back: the backups stay pending_verification; prints the restore command',
    )
    .requiredOption('--reason <text>', 'what went wrong')
    .option('--by <name>', 'who reports it', os.userInfo().username)
    .option('--json', 'print JSON')
    .action(async (ticket: string, opts: { by: string; reason: string; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const report = await failChange(rt, { ticket, by: opts.by, reason: opts.reason, via: 'cli' });
        if (opts.json) return printJson(report);
        for (const b of report.backups) {
          console.log(`${b.host}/${b.key} ${b.change_status}`);
          if (b.restore) console.log(`  to roll back, on ${b.host}: ${b.restore.command}`);
          else console.log(`  no restore: the backup is ${b.change_status}`);
        }
      });
    });
}
