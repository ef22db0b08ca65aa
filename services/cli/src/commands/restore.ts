import path from 'node:path';
import { BadInputError, LOCAL_COPY, metadataPath } from '@fleet-backup/core';
import { type RestoreSource, restoreFiles } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';

interface RestoreOptions {
  to: string;
  file?: string[];
  from: string;
  force?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRestoreCommand(program: Command): void {
  program
    .command('restore <id>')
    .description(
      'restore a backup (or some files) under a directory, with original names, checking every sha256',
    )
    .requiredOption('--to <dir>', 'directory to restore into; files land at DIR/<original absolute path>')
    .option(
      '--file <path>',
      'only this file (original path, with or without the leading /); repeatable',
      collect,
    )
    .option('--from <copy>', `"${LOCAL_COPY}" (this host's BACKUP_ROOT) or a target name`, LOCAL_COPY)
    .option('--force', 'overwrite existing files')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      '\nExample:\n  fleet-backup restore 3f0c…-… --to /tmp/restore --file /srv/app/settings.json --from second',
    )
    .action(async (id: string, opts: RestoreOptions) => {
      await withRuntime(
        async (rt) => {
          const { backup, files } = await rt.backups.detail(id);
          const wanted = new Set((opts.file ?? []).map(metadataPath));
          const chosen = wanted.size ? files.filter((f) => wanted.has(f.path)) : files;
          const missing = [...wanted].filter((p) => !files.some((f) => f.path === p));
          if (missing.length) throw new BadInputError(`not in backup ${backup.key}: ${missing.join(', ')}`);
          const source: RestoreSource =
            opts.from === LOCAL_COPY
              ? { kind: 'local', dir: path.join(rt.config.backupRoot, backup.key) }
              : { kind: 'target', target: rt.targets.get(opts.from) };
          const result = await restoreFiles(chosen, source, { to: opts.to, force: Boolean(opts.force) });
          const summary = {
            id: backup.id,
            key: backup.key,
            from: opts.from,
            to: path.resolve(opts.to),
            ...result,
            verified: true,
          };
          if (opts.json) printJson(summary);
          else
            console.log(
              `restored ${result.files} file(s), ${result.bytes} bytes, from ${opts.from} to ${summary.to}; every sha256 matched`,
            );
        },
        { migrate: false },
      );
    });
}
