import { type BackupPlan, describeSystemState, planBackup } from '@fleet-backup/capture';
import { NotFoundFailure, SENSITIVE_SKIPPED } from '@fleet-backup/core';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { table } from '../table.ts';

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description(
      "what a backup of the host's configured sources would take and skip (with the rule), and the sizes; runs on the host, reads its files and the configuration (no Redis)",
    )
    .requiredOption(
      '--host <id>',
      "the host whose sources to plan (from the configuration's current version)",
    )
    .option('--json', 'print JSON')
    .action(async (opts: { host: string; json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const { config } = rt;
          const hostConfig = config.hosts[opts.host];
          if (!hostConfig) {
            throw new NotFoundFailure(
              `host ${opts.host} is not in the configuration (version ${rt.configVersion ?? 'none: nothing applied yet'}; see fleet-backup config show)`,
            );
          }
          // The keys are this process's (ENCRYPTION_KEY…): run plan with the agent's environment.
          const plan = await planBackup(
            opts.host,
            hostConfig,
            config.backupRoot,
            config.secretPatterns,
            config.encryption,
          );
          if (opts.json) return printJson(plan);
          console.log(render(plan));
        },
        { redis: false },
      );
    });
}

function render(plan: BackupPlan): string {
  const t = plan.totals;
  const taken = table(
    ['TAKE', 'BYTES', 'STORED'],
    plan.taken.map((f) => [
      f.path,
      String(f.size),
      f.encryptedWith ? `encrypted (key ${f.encryptedWith})` : 'as is',
    ]),
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
    ...describeSystemState(plan.systemState),
    `take ${t.takenFiles} files, ${t.takenBytes} bytes; skip ${t.skippedFiles} files, ${t.skippedBytes} bytes`,
    ...sensitiveWarning(plan),
  ].join('\n');
}

/** Sensitive files that would not be backed up at all: said last and loudly, so no one misses it. */
function sensitiveWarning(plan: BackupPlan): string[] {
  const left = plan.skipped.filter((s) => s.reason.startsWith(SENSITIVE_SKIPPED));
  if (!left.length) return [];
  return [
    '',
    `WARNING: ${left.length} SKIPPED sensitive file(s): no encryption key configured, so they are NOT backed up at all (never in the clear). Set ENCRYPTION_KEY=<keyId>:<base64 of 32 bytes> for the agent to back them up encrypted:`,
    ...left.map((s) => `  SKIPPED sensitive: ${s.path}`),
  ];
}
