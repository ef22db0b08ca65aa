import path from 'node:path';
import { fleetMetadata, hostMetadata, migrate } from '@fleet-backup/db';
import { writeJsonAtomic } from '@fleet-backup/worker';
import type { Command } from 'commander';
import { withRuntime } from '../open.ts';

export function registerAdminCommands(program: Command): void {
  program
    .command('export-metadata')
    .description('write backup_metadata.json (one host, or the fleet) atomically')
    .option('--host <id>', 'one host: { daily, pre_change, manual }; without it: { hosts: { … } }')
    .option('--out <file>', 'output file (default: stdout)')
    .action(async (opts: { host?: string; out?: string }) => {
      await withRuntime(
        async (rt) => {
          const doc = opts.host ? await hostMetadata(rt.pool, opts.host) : await fleetMetadata(rt.pool);
          if (opts.out) console.log(await writeJsonAtomic(path.resolve(opts.out), doc));
          else process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
        },
        { migrate: false },
      );
    });

  program
    .command('migrate')
    .description('create the database if needed and apply pending migrations')
    .action(async () => {
      await withRuntime(async (rt) => {
        const applied = await migrate(rt.pool);
        console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
      });
    });
}
