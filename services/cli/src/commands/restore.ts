import os from 'node:os';
import path from 'node:path';
import { type Config, loadConfig } from '@fleet-backup/config';
import { BadInputError } from '@fleet-backup/core';
import { createPool, RestoreLog } from '@fleet-backup/db';
import {
  type CopySource,
  type RestoreFile,
  type RestoreResult,
  type RestoreSelection,
  resolveBackup,
  restoreFiles,
  restoreSetOfDetail,
  restoreSetOfManifest,
  restoreSources,
  selectForRestore,
  Targets,
  targetSource,
} from '@fleet-backup/runtime';
import { indexPacks, readListedManifest, readOnly, SealingKeys } from '@fleet-backup/storage';
import type { Command } from 'commander';
import { printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { collect } from '../options.ts';
import { table } from '../table.ts';
import { type RestoreBar, restoreBar } from './restore-progress.ts';

interface RestoreOptions {
  to: string;
  file?: string[];
  from: string;
  force?: boolean;
  /** False with --no-owner. */
  owner: boolean;
  json?: boolean;
  by: string;
  target?: string;
  host?: string;
  backup?: string;
}

interface Attempt {
  host: string;
  key: string;
  backupId: string | null;
  where: string;
  selection: RestoreSelection;
}

export function registerRestoreCommands(program: Command): void {
  program
    .command('restore [backup]')
    .description(
      'restore a backup (or some files) under a directory, with original names, modes, owners and times, checking every sha256',
    )
    .requiredOption(
      '--to <dir>',
      'directory to restore into; files land at DIR/<original absolute path> (DIR itself may be a symlink)',
    )
    .option(
      '--file <path>',
      'only this file, symlink or directory (original path, with or without the leading /); repeatable; names generated items (/environment.config …) too',
      collect,
    )
    .option(
      '--from <copy>',
      'auto (nearest verified copy, falling back), local, a target name, or s3|gcs|fs',
      'auto',
    )
    .option('--force', 'replace existing files and symlinks (never a directory, never through a symlink)')
    .option(
      '--no-owner',
      'leave restored entries owned by the user restoring (for restoring as an ordinary user)',
    )
    .option('--by <name>', 'who restores (recorded)', os.userInfo().username)
    .option(
      '--target <name>',
      'without Postgres: restore from this target using its manifest (needs --host, --backup)',
    )
    .option('--host <id>', "the backup's host: with a key (YYYYMMDD…), or with --target")
    .option('--backup <id|key>', 'the backup (instead of the argument); with --target, its key')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      '\nThe backup is its id, or its key with --host (as in BACKUP_ROOT and backup_metadata.json).\n' +
        '\nExamples:\n  fleet-backup restore 3f0c…-… --to /tmp/restore --file /srv/app/settings.json\n' +
        '  fleet-backup restore 20260301 --host web-01 --to /tmp/restore\n' +
        '  fleet-backup restore --target offsite-s3 --host web-01 --backup 20260301 --to /tmp/restore   # Postgres gone',
    )
    .action(async (ref: string | undefined, opts: RestoreOptions) => {
      if (opts.target) return restoreFromBucket(opts);
      const backup = ref ?? opts.backup;
      if (!backup)
        throw new BadInputError(
          'restore needs a backup (id, or key with --host), or --target with --host and --backup',
        );
      await withRuntime(
        async (rt) => {
          const detail = await rt.backups.detail(await resolveBackup(rt, backup, opts.host));
          const where = `backup ${detail.backup.host}/${detail.backup.key}`;
          const attempt = {
            host: detail.backup.host,
            key: detail.backup.key,
            backupId: detail.backup.id,
            where,
            selection: selectForRestore(restoreSetOfDetail(detail), opts.file, where),
          };
          const sources = await restoreSources(rt, detail, opts.from);
          await runAndRecord(attempt, opts, rt.config, sources);
        },
        // A restore reads Postgres and the copies, never Redis: it must work in a Redis outage.
        { migrate: false, redis: false },
      );
    });

  program
    .command('restores')
    .description('the record of every restore: who, when, from which copy, the hash checks, the outcome')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withRuntime(async (rt) => {
        const rows = await new RestoreLog(rt.pool).list();
        if (opts.json) return printJson(rows);
        if (!rows.length) return console.log('no restores yet');
        console.log(
          table(
            ['WHEN', 'BY', 'HOST', 'BACKUP', 'FROM', 'FILES', 'BYTES', 'OUTCOME'],
            rows.map((r) => [
              r.startedAt.toISOString(),
              r.requestedBy,
              r.host,
              r.backupKey,
              r.requestedCopy,
              String(r.files),
              String(r.bytes),
              r.outcome,
            ]),
          ),
        );
      });
    });
}

/** Postgres is gone: the target's manifest says which blobs make up the backup, and how they were. */
async function restoreFromBucket(opts: RestoreOptions): Promise<void> {
  if (!opts.host || !opts.backup) throw new BadInputError('--target needs --host and --backup');
  // The one command that reads a file for its targets: the catalog that holds the configuration is gone.
  const config = loadConfig();
  // No catalog: a sealed target's data key comes from the target itself, opened by ENCRYPTION_KEY.
  const targets = new Targets(config.targets, {
    retry: { deadlineMs: config.targetRetryDeadlineMs },
    sealing: new SealingKeys(null, config.encryption),
  });
  // A name this config lacks is a usage error (exit 2), as for `verify --target`.
  if (!targets.names().includes(opts.target!)) {
    throw new BadInputError(
      `--target must be a target of FLEET_BACKUP_CONFIG (${targets.names().join(', ') || 'none'}; a saved \`config show --json\`), got ${opts.target}`,
    );
  }
  // A restore only reads the bucket.
  const target = readOnly(targets.get(opts.target!));
  const manifest = await readListedManifest(target, opts.host, opts.backup);
  const where = `manifest ${opts.host}/${opts.backup} on target ${target.name}`;
  const attempt = {
    host: opts.host,
    key: opts.backup,
    backupId: null,
    where,
    selection: selectForRestore(restoreSetOfManifest(manifest), opts.file, where),
  };
  // The packs' own indexes say where the manifest's blobs are; a blob in none is its own object.
  // Only the blobs of the files restored are looked for (a chunked file's chunks, never its whole
  // blob, which no pack holds), and the scan ends once all are found.
  const wanted = new Set(
    attempt.selection.files.flatMap((f) => f.chunks ?? [f.encrypted?.sha256 ?? f.sha256]),
  );
  const places = await indexPacks(target, {
    parallel: config.targetParallelRequests,
    wanted,
    onUnreadable: (pack, err) =>
      process.stderr.write(
        `warning: pack ${pack} on ${target.name} is skipped (${err.message}); files whose bytes are only there will be missing\n`,
      ),
  });
  const source = targetSource(target, places, attempt.selection.files);
  await runAndRecord(attempt, { ...opts, from: target.name }, config, [source]);
}

/** Runs the restore and records it, whatever the outcome (the record is best effort without Postgres). */
async function runAndRecord(
  attempt: Attempt,
  opts: RestoreOptions,
  config: Config,
  sources: CopySource[],
): Promise<void> {
  const startedAt = new Date();
  const { files, nodes, withheld } = attempt.selection;
  let result: RestoreResult | undefined;
  let failure: Error | undefined;
  const bar = restoreBar(files, Boolean(opts.json));
  try {
    result = await restoreFiles(files, sources, {
      ...restoreOpts(opts, config, bar),
      nodes,
      where: attempt.where,
    });
  } catch (err) {
    failure = err as Error;
  }
  bar.finish(result);
  await record(config, {
    backupId: attempt.backupId,
    host: attempt.host,
    backupKey: attempt.key,
    requestedBy: opts.by,
    requestedCopy: opts.from,
    startedAt,
    finishedAt: new Date(),
    outcome: failure ? 'failed' : 'ok',
    files: result?.files.length ?? 0,
    bytes: result?.bytes ?? 0,
    detail: {
      to: path.resolve(opts.to),
      files: result?.files ?? [],
      fallbacks: result?.fallbacks ?? [],
      withheld,
      notes: result?.notes ?? [],
      error: failure?.message ?? null,
    },
  });
  if (failure) throw failure;
  report(attempt, opts, result!);
}

function report(attempt: Attempt, opts: RestoreOptions, r: RestoreResult): void {
  const copies = [...new Set(r.files.map((f) => f.copy))].join(', ');
  const { withheld } = attempt.selection;
  if (opts.json) {
    printJson({
      id: attempt.backupId,
      host: attempt.host,
      key: attempt.key,
      to: path.resolve(opts.to),
      files: r.files.length,
      bytes: r.bytes,
      dirs: r.dirs,
      symlinks: r.symlinks,
      copies,
      fallbacks: r.fallbacks,
      withheld,
      notes: r.notes,
      verified: true,
    });
    return;
  }
  for (const n of r.notes) process.stderr.write(`note: ${n.path}: ${n.problem}\n`);
  if (withheld.length) {
    process.stderr.write(
      `note: left out the generated item(s) ${withheld.join(', ')}; they describe the host and are not files of it: restore one by name, e.g. --file /${withheld[0]}\n`,
    );
  }
  const nodes =
    r.dirs || r.symlinks
      ? ` (with ${r.dirs} director${r.dirs === 1 ? 'y' : 'ies'}, ${r.symlinks} symlink(s))`
      : '';
  console.log(
    `restored ${r.files.length} file(s), ${r.bytes} bytes, from ${copies || 'nothing'} to ${path.resolve(opts.to)}${nodes}; every sha256 matched`,
  );
}

function restoreOpts(opts: RestoreOptions, config: Config, bar: RestoreBar) {
  return {
    to: opts.to,
    force: Boolean(opts.force),
    owner: opts.owner !== false,
    keyring: config.encryption,
    parallel: config.targetParallelRequests,
    onFallback: (file: RestoreFile, copy: string, error: Error) =>
      bar.note(`fleet-backup: ${file.path}: copy ${copy} failed (${error.message}); trying the next copy`),
    onProgress: bar.onProgress,
  };
}

async function record(config: Config, entry: Parameters<RestoreLog['record']>[0]): Promise<void> {
  const pool = createPool(config.databaseUrl, 1);
  try {
    await new RestoreLog(pool).record(entry);
  } catch (err) {
    process.stderr.write(
      `fleet-backup: the restore was not recorded (Postgres: ${(err as Error).message})\n`,
    );
  } finally {
    await pool.end().catch(() => {});
  }
}
