import type { Clock } from '@fleet-backup/core';
import { buildReport, retireBackup, runExpire, runGc } from '@fleet-backup/runtime';
import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { formatExpire, formatGc, formatRetire } from './lifecycle-format.ts';
import { formatReport } from './report-format.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const instant = (v: string): Date => {
  const at = new Date(v);
  const [, y, m, d] = /^(\d{4})-(\d\d)-(\d\d)T/.exec(v) ?? [];
  // Date rolls 2026-02-30 over to March 2 without a word: a day that does not exist is refused.
  const real =
    y !== undefined && new Date(Date.UTC(+y, +m! - 1, +d!)).getUTCDate() === +d! && +m! >= 1 && +m! <= 12;
  if (!real || Number.isNaN(at.getTime())) {
    throw new CliError(
      `--at must be an ISO-8601 time such as 2026-05-01T03:00:00Z, got ${JSON.stringify(v)}`,
      EXIT.usage,
    );
  }
  return at;
};
/** A clock stopped at one instant: a dry run as of a chosen time. */
const fixedClock = (at: Date): Clock => ({ now: () => new Date(at) });
const seconds = (v: string) => {
  // Decimal digits only: `Number` would also take 1e3, 0x10 and an empty string (as 0).
  if (!/^\d{1,9}(\.\d+)?$/.test(v))
    throw new CliError(`--timeout must be a number of seconds, got ${JSON.stringify(v)}`, EXIT.usage);
  return Number(v);
};

/** expire, gc, retire and report: the lifecycle of backups after their pipeline. */
export function registerLifecycleCommands(program: Command): void {
  program
    .command('expire')
    .description('remove the backups past their retention (also runs daily through a job scheduler)')
    .option('--dry-run', 'print what would go, with the bytes freed per target; change nothing')
    .option('--at <time>', 'with --dry-run: what would go at this ISO-8601 time instead of now', instant)
    .option('--timeout <s>', "seconds to wait for the hosts' agents to remove the local copies", seconds, 30)
    .option('--json', 'print JSON')
    .action(async (opts: { dryRun?: boolean; at?: Date; timeout: number; json?: boolean }) => {
      if (opts.at && !opts.dryRun) throw new CliError('--at only goes with --dry-run', EXIT.usage);
      const clock = opts.at ? fixedClock(opts.at) : undefined;
      await withRuntime(
        async (rt) => {
          const waitMs = opts.timeout * 1000;
          const report = await runExpire(rt, { dryRun: opts.dryRun ?? false, waitMs });
          if (opts.json) printJson(report);
          else console.log(formatExpire(report));
          if (report.errors.length)
            throw new CliError('some removals failed; the next expire run retries them', EXIT.failed);
        },
        { clock },
      );
    });

  program
    .command('gc')
    .description('delete blobs no backup references once the grace period is over (also runs daily)')
    .option('--dry-run', 'print what would be deleted; change nothing')
    .option(
      '--scan',
      "take candidates from listing each target, not from Postgres' record (after a disaster)",
    )
    .option('--json', 'print JSON')
    .action(async (opts: { dryRun?: boolean; scan?: boolean; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const report = await runGc(rt, { dryRun: opts.dryRun ?? false, scan: opts.scan ?? false });
        if (opts.json) printJson(report);
        else console.log(formatGc(report));
        if (report.targets.some((t) => t.errors.length))
          throw new CliError('gc did not finish on every target', EXIT.failed);
      });
    });

  program
    .command('retire <key>')
    .description("retire a pre_change backup whose change is verified (the seed's manual cleanup); KEY or id")
    .option('--host <id>', 'the host, when the key exists on several')
    .option('--by <name>', 'who retires it (recorded)')
    .option('--timeout <s>', "seconds to wait for the host's agent to remove the local copy", seconds, 30)
    .option('--json', 'print JSON')
    .action(async (key: string, opts: { host?: string; by?: string; timeout: number; json?: boolean }) => {
      await withRuntime(async (rt) => {
        const ref = UUID.test(key) ? { id: key } : { key, host: opts.host ?? null };
        const progress = await retireBackup(rt, ref, { by: opts.by ?? null, waitMs: opts.timeout * 1000 });
        if (opts.json) printJson(progress);
        else console.log(formatRetire(progress));
      });
    });

  program
    .command('report')
    .description(
      'what expires soon, storage, what needs verification or a change report, overdue hosts, hosts without a recent restore drill, not 3-2-1',
    )
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withRuntime(
        async (rt) => {
          const report = await buildReport(rt);
          if (opts.json) printJson(report);
          else console.log(formatReport(report));
        },
        { migrate: false },
      );
    });
}
