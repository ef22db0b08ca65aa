import type { Command } from 'commander';
import { CliError, EXIT, printJson } from '../exit.ts';
import { withRuntime } from '../open.ts';
import { wholeNumber } from '../options.ts';
import { statusCell } from '../style.ts';
import { table } from '../table.ts';
import { type CopyOutcome, checkTargetName, selectBackups, verifyBackups } from './verify-run.ts';

interface VerifyOptions {
  host?: string;
  all?: boolean;
  target?: string;
  timeout: number;
  json?: boolean;
}

const BAD = new Set(['corrupt', 'healed', 'unreachable', 'not checked']);

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify [id]')
    .description(
      "read backups' copies back again in full and update their states: a copy that reads bad becomes corrupt (the backup loses verified and 3-2-1) and is healed from a good copy; one that reads good again is verified again",
    )
    .option('--host <id>', "every kept backup of this host (with an ID: the ID is this host's backup key)")
    .option('--all', 'every kept backup of every host')
    .option('--target <name>', 'only this copy: local, or a target name')
    .option(
      '--timeout <seconds>',
      'how long to wait for the pool workers and agents that read the copies',
      wholeNumber,
      600,
    )
    .option('--json', 'print one JSON array, an entry per copy read')
    .addHelpText(
      'after',
      "\nEach copy is read where its credentials are: a target's by a pool worker (a verify-copy job), each local copy by its host's agent (a job on its queue), which fetches a bad file again from a verified target copy. This process needs no target credential." +
        '\nExit codes: 0 every copy read good, 1 a copy read bad (even if healed since) or could not be read, 2 bad arguments, 3 no such backup or host.' +
        '\n\nExamples:\n  fleet-backup verify 6f1c…\n  fleet-backup verify 20260301 --host web-01 --target s3\n  fleet-backup verify --all --json',
    )
    .action(async (id: string | undefined, opts: VerifyOptions) => {
      await withRuntime(async (rt) => {
        checkTargetName(rt, opts.target);
        const chosen = await selectBackups(rt, { id, host: opts.host, all: opts.all });
        const outcomes = await verifyBackups(rt, chosen, {
          target: opts.target,
          timeoutMs: opts.timeout * 1000,
        });
        if (opts.json) printJson(outcomes);
        else printOutcomes(outcomes);
        const bad = outcomes.filter((o) => BAD.has(o.result));
        if (bad.length) {
          throw new CliError(
            `${bad.length} of ${outcomes.length} copies read bad or could not be read: ${bad
              .slice(0, 5)
              .map((o) => `${o.host}/${o.key} ${o.copy} ${o.result}`)
              .join(', ')}${bad.length > 5 ? ', …' : ''}`,
            EXIT.failed,
          );
        }
      });
    });
}

function printOutcomes(outcomes: CopyOutcome[]): void {
  if (!outcomes.length) {
    console.log('no copies to read');
    return;
  }
  console.log(
    table(
      ['BACKUP', 'COPY', 'RESULT', 'DETAIL'],
      outcomes.map((o) => [`${o.host}/${o.key}`, o.copy, statusCell(o.result), detailOf(o)]),
    ),
  );
}

function detailOf(o: CopyOutcome): string {
  const first = o.problems[0];
  const parts = [
    first
      ? `${first.path}: ${first.problem}${o.problems.length > 1 ? ` (+${o.problems.length - 1} more)` : ''}`
      : '',
    o.healed.length ? `healed from ${[...new Set(o.healed.map((h) => h.from))].join(', ')}` : '',
    o.note ?? '',
  ];
  return parts.filter(Boolean).join('; ');
}
