import { readConfigDoc } from '@fleet-backup/config';
import { NotFoundFailure } from '@fleet-backup/core';
import { applier, applyConfig, versionDoc } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { wholeNumber } from '../options.ts';
import { table } from '../table.ts';

export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description(
      "the installation's configuration (hosts, targets, retention, lifecycle, drills, thresholds), kept in the catalog as versions that every role and command reads",
    );

  config
    .command('apply <file>')
    .description(
      'check FILE (JSON) whole, print what it changes, and store it as the next version (refused whole, with every problem named, when invalid)',
    )
    .option('--dry-run', 'print what would change, change nothing')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { dryRun?: boolean; json?: boolean }) => {
      // Checked before any connection: a bad file changes nothing, wherever the catalog is.
      const doc = readConfigDoc(file);
      await withRuntime(
        async (rt) => {
          const result = await applyConfig(rt, doc, {
            appliedBy: applier('config-apply'),
            origin: 'apply',
            dryRun: opts.dryRun === true,
          });
          if (opts.json) return printJson({ ...result, dryRun: opts.dryRun === true });
          for (const line of result.changes) console.log(line);
          if (opts.dryRun) {
            console.log(
              result.changes.length
                ? `dry run: the above would be version ${result.version + 1}; nothing was changed`
                : `dry run: no change from version ${result.version}`,
            );
          } else if (result.created) console.log(`applied as version ${result.version}`);
          else console.log(`no change: version ${result.version} is the same`);
        },
        { redis: false },
      );
    });

  config
    .command('show')
    .description(
      'print the current configuration version (or --version N) as JSON, with who applied it and when',
    )
    .option('--version <n>', 'an older version', wholeNumber)
    .option('--json', 'print the document alone, as JSON')
    .action(async (opts: { version?: number; json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const v =
            opts.version === undefined ? await rt.configs.current() : await rt.configs.get(opts.version);
          if (!v) {
            throw new NotFoundFailure(
              opts.version === undefined
                ? 'no configuration applied yet: `fleet-backup config apply FILE`, or start a producer with FLEET_BACKUP_CONFIG'
                : `configuration version ${opts.version} does not exist (see config history)`,
            );
          }
          if (opts.json) return printJson(versionDoc(v));
          console.log(
            `# version ${v.version}, applied ${v.appliedAt.toISOString()} by ${v.appliedBy} (${v.origin})`,
          );
          console.log(JSON.stringify(versionDoc(v), null, 2));
        },
        { redis: false },
      );
    });

  config
    .command('history')
    .description('every configuration version, newest first: when, by whom, and how it came')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const versions = await rt.configs.history();
          if (opts.json) return printJson(versions);
          if (!versions.length) return console.log('no configuration applied yet');
          console.log(
            table(
              ['VERSION', 'APPLIED', 'BY', 'ORIGIN'],
              versions.map((v) => [String(v.version), v.appliedAt.toISOString(), v.appliedBy, v.origin]),
            ),
          );
        },
        { redis: false },
      );
    });
}
