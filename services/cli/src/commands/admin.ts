import { migrate } from '@fleet-backup/db';
import type { Command } from 'commander';
import { withRuntime } from '../open.ts';
import { registerExportMetadata } from './export-metadata.ts';

export function registerAdminCommands(program: Command): void {
  registerExportMetadata(program);

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
