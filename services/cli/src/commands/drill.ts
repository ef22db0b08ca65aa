import { BACKUP_KINDS, type BackupKind } from '@fleet-backup/core';
import { type DrillRun, DrillStore } from '@fleet-backup/db';
import { runDrill } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { wholeNumber } from '../options.ts';
import { statusCell } from '../style.ts';
import { table } from '../table.ts';
import { drillProgress } from './drill-progress.ts';

interface DrillOptions {
  host: string;
  backup?: string;
  kind?: string;
  from?: string;
  json?: boolean;
}

export function registerDrillCommands(program: Command): void {
  program
    .command('drill')
    .description(
      'run a restore drill now: restore a backup from one copy into a scratch directory, check every sha256 and every SQLite database, record the result, delete the scratch directory',
    )
    .requiredOption('--host <id>', 'the host whose backup to drill')
    .option('--backup <id|key>', "a backup id or key of the host (default: the host's newest verified daily)")
    .option(
      '--kind <kind>',
      'without --backup: the newest verified backup of this kind (daily, pre_change, manual)',
    )
    .option(
      '--from <copy>',
      'the copy to restore from: a target name or kind (default: drillFrom, else offsite)',
    )
    .option('--json', 'print the recorded drill as JSON')
    .addHelpText(
      'after',
      '\nExit codes: 0 the drill passed, 1 it failed (the reason names the file and the copy), 2 --from names no configured target, 3 no such host or backup.' +
        '\nProgress goes to stderr, the result to stdout; every drill is listed by `fleet-backup drills`.' +
        '\n\nExamples:\n  fleet-backup drill --host web-01\n  fleet-backup drill --host web-01 --backup 20260301 --from offsite-s3 --json',
    )
    .action(async (opts: DrillOptions) => {
      const kind = drillKind(opts);
      await withRuntime(async (rt) => {
        const { run, databases, uncheckedDatabases } = await runDrill(rt, {
          host: opts.host,
          backup: opts.backup,
          kind,
          from: opts.from,
          trigger: 'manual',
          onProgress: drillProgress({ json: opts.json }),
        });
        if (opts.json) printJson({ ...runJson(run), databases, uncheckedDatabases });
        else if (run.ok) {
          console.log(
            `drill passed: ${run.backupKey} of ${run.host} from copy ${run.target}: ${run.files} file(s), ${run.bytes} bytes, ` +
              `every sha256 matched, ${databases} SQLite database(s) passed integrity_check, ${seconds(run.durationMs)}; scratch directory deleted`,
          );
        }
        for (const file of uncheckedDatabases) {
          process.stderr.write(
            `note: ${file} not checked: the backup noted SQLite could not read it at capture\n`,
          );
        }
        if (!run.ok) throw new CliError(`drill failed: ${run.reason}`, EXIT.failed);
      });
    });

  program
    .command('drills')
    .description('restore drill results, newest first: when, which backup, which copy, passed or why not')
    .option('--host <id>', 'only this host')
    .option('--limit <n>', 'how many', wholeNumber, 50)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  fleet-backup drills --host web-01')
    .action(async (opts: { host?: string; limit: number; json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const runs = await new DrillStore(rt.pool).list({ host: opts.host, limit: opts.limit });
          if (opts.json) return printJson(runs.map(runJson));
          if (!runs.length) return console.log('no drills yet');
          console.log(
            table(
              [
                'STARTED',
                'HOST',
                'TRIGGER',
                'BACKUP',
                'COPY',
                'RESULT',
                'FILES',
                'BYTES',
                'DURATION',
                'REASON',
              ],
              runs.map((r) => [
                r.startedAt.toISOString(),
                r.host,
                r.trigger,
                r.backupKey ?? '',
                r.target ?? '',
                statusCell(r.ok === null ? 'running' : r.ok ? 'ok' : 'failed'),
                r.files === null ? '' : String(r.files),
                r.bytes === null ? '' : String(r.bytes),
                r.durationMs === null ? '' : seconds(r.durationMs),
                r.reason ?? '',
              ]),
            ),
          );
        },
        { migrate: false },
      );
    });
}

/** --kind, checked: a drill picks a pre-change or manual backup only when asked to. */
function drillKind(opts: DrillOptions): BackupKind | undefined {
  if (opts.kind === undefined) return undefined;
  if (opts.backup)
    throw new CliError(
      '--kind picks the newest backup of a kind; --backup names one: give one of them',
      EXIT.usage,
    );
  const kind = BACKUP_KINDS.find((k) => k === opts.kind);
  if (!kind)
    throw new CliError(`--kind must be one of ${BACKUP_KINDS.join(', ')}, got ${opts.kind}`, EXIT.usage);
  return kind;
}

function runJson(r: DrillRun) {
  return {
    ...r,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
  };
}

function seconds(ms: number | null): string {
  return `${((ms ?? 0) / 1000).toFixed(1)} s`;
}
