import path from 'node:path';
import { describeDrop, describeMassChange, isKept } from '@fleet-backup/core';
import { describeBackup, resolveBackup, writeJsonAtomic } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { wholeNumber } from '../options.ts';
import { statusCell } from '../style.ts';
import { table } from '../table.ts';

export function registerInspectCommands(program: Command): void {
  program
    .command('list')
    .description('recent backups, newest first')
    .option('--host <id>', 'only this host')
    .option('--limit <n>', 'how many', wholeNumber, 50)
    .option('--json', 'print JSON')
    .action(async (opts: { host?: string; limit: number; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const rows = await rt.backups.list({ host: opts.host, limit: opts.limit });
        if (opts.json) {
          printJson(
            rows.map((b) => ({
              id: b.id,
              host: b.host,
              kind: b.kind,
              key: b.key,
              status: b.status,
              lifecycle: b.lifecycle,
              created: b.createdAt.toISOString(),
            })),
          );
          return;
        }
        if (!rows.length) return console.log('no backups yet');
        console.log(
          table(
            ['ID', 'HOST', 'KIND', 'KEY', 'STATUS', 'CREATED'],
            rows.map((b) => [b.id, b.host, b.kind, b.key, statusText(b), b.createdAt.toISOString()]),
          ),
        );
      });
    });

  program
    .command('show <backup>')
    .description('one backup: status per stage, per file and per copy')
    .option(
      '--host <id>',
      "the backup's host, when <backup> is a key (YYYYMMDD or YYYYMMDD_HHMM_description)",
    )
    .option('--json', 'print JSON')
    .option('--out <file>', 'write the JSON to a file instead, atomically (prints its path)')
    .option('--check', 'exit 0 only when verified and 3-2-1; 1 when failed; 4 (unsafe) otherwise')
    .addHelpText(
      'after',
      '\nThe backup is its id, or its key with --host.\n\nExamples:\n  fleet-backup show 3f0c…-…\n  fleet-backup show 20260301 --host web-01 --json',
    )
    .action(async (ref: string, opts: { host?: string; json?: boolean; out?: string; check?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const view = describeBackup(await rt.backups.detail(await resolveBackup(rt, ref, opts.host)));
          if (opts.out) {
            console.log(await writeJsonAtomic(path.resolve(opts.out), view));
            return check(view, opts.check);
          }
          if (opts.json) {
            printJson(view);
            return check(view, opts.check);
          }
          console.log(`${view.id}  ${view.host}/${view.key}  ${view.kind}  ${statusCell(view.status)}`);
          console.log(
            `created ${view.created}${view.expires ? `, expires ${view.expires}` : ''}; planned with configuration version ${view.config_version ?? 'none'}`,
          );
          if (view.lifecycle.since) {
            console.log(
              `${view.lifecycle.state} since ${view.lifecycle.since}: ${view.lifecycle.reason ?? ''}`,
            );
          }
          for (const glob of view.missing)
            console.log(`MISSING ${glob} (required: the backup is incomplete)`);
          if (view.sharp_drop) console.log(`SHARP DROP ${describeDrop(view.sharp_drop)}`);
          if (view.mass_change) console.log(`MASS CHANGE ${describeMassChange(view.mass_change)}`);
          console.log(`${view.compliance.summary}\n`);
          console.log(
            table(
              ['STAGE', 'TARGET', 'STATUS', 'ATTEMPTS', 'ERROR'],
              view.stages.map((s) => [
                s.stage,
                s.target ?? '',
                statusCell(s.status),
                String(s.attempts),
                s.error ?? '',
              ]),
            ),
          );
          console.log();
          console.log(
            table(
              ['COPY', 'KIND', 'OFFSITE', 'STATUS', 'VERIFIED', 'ENCRYPTION'],
              view.copies.map((c) => [
                c.target,
                c.kind,
                c.offsite ? 'yes' : 'no',
                statusCell(c.status),
                c.verified ?? '',
                c.offsite && c.encryption === 'none'
                  ? 'NONE (encryption: none on this offsite target)'
                  : (c.encryption ?? '-'),
              ]),
            ),
          );
          console.log();
          console.log(
            table(
              ['FILE', 'CLASS', 'SIZE', 'SHA256', 'STORED'],
              view.files.map((f) => [
                f.path,
                f.class,
                String(f.size),
                f.sha256.slice(0, 16),
                f.encrypted ? `encrypted (key ${f.encrypted.key})` : 'plain',
              ]),
            ),
          );
          // The list also carries notes on files that were stored, just not the usual way.
          for (const s of view.skipped) {
            console.log(`${s.reason.startsWith('copied as') ? 'note' : 'skipped'} ${s.path}: ${s.reason}`);
          }
          check(view, opts.check);
        },
        { migrate: false },
      );
    });
}

/** `show --check`: a failed backup exits 1; one not verified and 3-2-1, or going away, exits 4. */
function check(view: ReturnType<typeof describeBackup>, wanted = false): void {
  if (!wanted) return;
  const name = `backup ${view.host}/${view.key}`;
  if (view.status === 'failed') throw new CliError(`${name} failed`, EXIT.failed);
  if (view.status !== 'verified') throw new CliError(`${name} is unsafe: it is ${view.status}`, EXIT.unsafe);
  if (!view.compliance.ok) throw new CliError(`${name} is unsafe: ${view.compliance.summary}`, EXIT.unsafe);
  if (!isKept(view.lifecycle.state))
    throw new CliError(`${name} is unsafe: it is ${view.lifecycle.state}`, EXIT.unsafe);
}

/** The status, with the lifecycle when the backup is going or gone (e.g. `verified, expired`). */
function statusText(b: { status: string; lifecycle: string | null }): string {
  const status = statusCell(b.status);
  return isKept(b.lifecycle) ? status : `${status}, ${b.lifecycle}`;
}
