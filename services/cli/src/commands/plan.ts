import { loadConfig } from '@fleet-backup/config';
import { NotFoundFailure } from '@fleet-backup/core';
import { type BackupPlan, planBackup } from '@fleet-backup/worker';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { table } from './inspect.ts';

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      "what a backup of the host's configured sources would take and skip (with the rule), and the sizes; runs on the host, reads its files, needs only the config file",
    )
    .requiredOption('--host <id>', 'the host whose sources to plan (from FLEET_BACKUP_CONFIG)')
    .option('--json', 'print JSON')
    .action(async (opts: { host: string; json?: boolean }) => {
      // No Redis or Postgres: a plan reads the host's files and the config file, nothing else.
      const config = loadConfig();
      const hostConfig = config.hosts[opts.host];
      if (!hostConfig) {
        throw new NotFoundFailure(
          `host ${opts.host} is not in the config file (${config.configFile ?? 'FLEET_BACKUP_CONFIG is not set'})`,
        );
      }
      const plan = await planBackup(opts.host, hostConfig, config.backupRoot);
      if (opts.json) return printJson(plan);
      console.log(render(plan));
    });
}

function render(plan: BackupPlan): string {
  const t = plan.totals;
  const taken = table(
    ['TAKE', 'BYTES'],
    plan.taken.map((f) => [f.path, String(f.size)]),
  );
  const skipped = table(
    ['SKIP', 'BYTES', 'WHY'],
    plan.skipped.map((s) => [s.dir ? `${s.path}/` : s.path, String(s.size), s.reason]),
  );
  return [
    `plan for ${plan.host}: sources ${plan.sources.join(', ')}`,
    taken,
    '',
    skipped,
    '',
    `take ${t.takenFiles} files, ${t.takenBytes} bytes; skip ${t.skippedFiles} files, ${t.skippedBytes} bytes`,
  ].join('\n');
}
