import os from 'node:os';
import path from 'node:path';
import { type Config, loadConfig } from '@fleet-backup/config';
import { BadInputError, metadataPath } from '@fleet-backup/core';
import { createPool, RestoreLog } from '@fleet-backup/db';
import {
  type RestoreFile,
  type RestoreResult,
  restoreFiles,
  restoreSources,
  Targets,
  targetSource,
} from '@fleet-backup/runtime';
import { type ManifestFile, readManifest } from '@fleet-backup/storage';
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
  files: RestoreFile[];
}

export function registerRestoreCommands(program: Command): void {
  program
    .command('restore [id]')
    .description(
      'restore a backup (or some files) under a directory, with original names, checking every sha256',
    )
    .requiredOption('--to <dir>', 'directory to restore into; files land at DIR/<original absolute path>')
    .option(
      '--file <path>',
      'only this file (original path, with or without the leading /); repeatable',
      collect,
    )
    .option(
      '--from <copy>',
      'auto (nearest verified copy, falling back), local, a target name, or s3|gcs|fs',
      'auto',
    )
    .option('--force', 'overwrite existing files')
    .option('--by <name>', 'who restores (recorded)', os.userInfo().username)
    .option(
      '--target <name>',
      'without Postgres: restore from this target using its manifest (needs --host, --backup)',
    )
    .option('--host <id>', 'with --target: the host')
    .option('--backup <key>', 'with --target: the backup key (YYYYMMDD or YYYYMMDD_HHMM_description)')
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      '\nExamples:\n  fleet-backup restore 3f0c…-… --to /tmp/restore --file /srv/app/settings.json\n' +
        '  fleet-backup restore --target offsite-s3 --host web-01 --backup 20260301 --to /tmp/restore   # Postgres gone',
    )
    .action(async (id: string | undefined, opts: RestoreOptions) => {
      if (opts.target) return restoreFromBucket(opts);
      if (!id) throw new BadInputError('restore needs a backup id, or --target with --host and --backup');
      await withRuntime(
        async (rt) => {
          const detail = await rt.backups.detail(id);
          const attempt = {
            host: detail.backup.host,
            key: detail.backup.key,
            backupId: id,
            files: pick(detail.files, opts.file),
          };
          const sources = await restoreSources(rt, detail, opts.from);
          await runAndRecord(attempt, opts, rt.config, (files, bar) =>
            restoreFiles(files, sources, restoreOpts(opts, rt.config, bar)),
          );
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

/** Postgres is gone: the target's manifest says which blobs make up the backup. */
async function restoreFromBucket(opts: RestoreOptions): Promise<void> {
  if (!opts.host || !opts.backup) throw new BadInputError('--target needs --host and --backup');
  const config = loadConfig();
  const target = new Targets(config.targets, { retry: { deadlineMs: config.targetRetryDeadlineMs } }).get(
    opts.target!,
  );
  const manifest = await readManifest(target, opts.host, opts.backup);
  const files = Object.entries(manifest.files).map(([storedPath, f]) => fromManifest(storedPath, f));
  const attempt = { host: opts.host, key: opts.backup, backupId: null, files: pick(files, opts.file) };
  await runAndRecord(attempt, { ...opts, from: target.name }, config, (chosen, bar) =>
    restoreFiles(chosen, [targetSource(target)], restoreOpts(opts, config, bar)),
  );
}

/** A manifest entry as a file to restore; an encrypted one names its blob and key. */
function fromManifest(storedPath: string, f: ManifestFile): RestoreFile {
  const { path, size, sha256, storedSha256, storedSize, keyId } = f;
  const encrypted =
    storedSha256 && storedSize !== undefined && keyId
      ? { sha256: storedSha256, size: storedSize, keyId }
      : null;
  return { storedPath, path, size, sha256, encrypted };
}

function pick<T extends RestoreFile>(files: T[], wanted?: string[]): T[] {
  if (!wanted?.length) return files;
  const paths = new Set(wanted.map(metadataPath));
  const missing = [...paths].filter((p) => !files.some((f) => f.path === p));
  if (missing.length) throw new BadInputError(`not in this backup: ${missing.join(', ')}`);
  return files.filter((f) => paths.has(f.path));
}

function restoreOpts(opts: RestoreOptions, config: Config, bar: RestoreBar) {
  return {
    to: opts.to,
    force: Boolean(opts.force),
    keyring: config.encryption,
    onFallback: (file: RestoreFile, copy: string, error: Error) =>
      bar.note(`fleet-backup: ${file.path}: copy ${copy} failed (${error.message}); trying the next copy`),
    onProgress: bar.onProgress,
  };
}

/** Runs the restore and records it, whatever the outcome (the record is best effort without Postgres). */
async function runAndRecord(
  attempt: Attempt,
  opts: RestoreOptions,
  config: Config,
  run: (files: RestoreFile[], bar: RestoreBar) => Promise<RestoreResult>,
): Promise<void> {
  const startedAt = new Date();
  let result: RestoreResult | undefined;
  let failure: Error | undefined;
  const bar = restoreBar(attempt.files, Boolean(opts.json));
  try {
    result = await run(attempt.files, bar);
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
      error: failure?.message ?? null,
    },
  });
  if (failure) throw failure;
  const r = result!;
  const copies = [...new Set(r.files.map((f) => f.copy))].join(', ');
  if (opts.json)
    printJson({
      id: attempt.backupId,
      host: attempt.host,
      key: attempt.key,
      to: path.resolve(opts.to),
      files: r.files.length,
      bytes: r.bytes,
      copies,
      fallbacks: r.fallbacks,
      verified: true,
    });
  else
    console.log(
      `restored ${r.files.length} file(s), ${r.bytes} bytes, from ${copies || 'nothing'} to ${path.resolve(opts.to)}; every sha256 matched`,
    );
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
