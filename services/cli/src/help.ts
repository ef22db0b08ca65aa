import type { Command } from 'commander';
import { exitCodesHelp } from './exit.ts';

/**
 * Examples for `--help`, by command path, for the commands that do not carry their own
 * (backup, restore, tokens create, drill and drills write theirs beside their options).
 * A test checks that every command's help shows at least one example.
 */
const EXAMPLES: Record<string, string[]> = {
  plan: ['fleet-backup plan --host web-01', 'fleet-backup plan --host web-01 --json | jq .totals'],
  config: ['fleet-backup config apply fleet.json --dry-run', 'fleet-backup config show'],
  'config apply': [
    'fleet-backup config apply fleet.json --dry-run   # what would change',
    'fleet-backup config apply fleet.json',
  ],
  'config show': ['fleet-backup config show', 'fleet-backup config show --version 3 --json > fleet-v3.json'],
  'config history': ['fleet-backup config history'],
  list: ['fleet-backup list --host web-01 --limit 10', 'fleet-backup list --json | jq ".[0].status"'],
  show: [
    'fleet-backup show 3f0c2a9e-…',
    'fleet-backup show 3f0c2a9e-… --check && echo "3-2-1 and verified"   # exit 4 when not 3-2-1',
  ],
  hosts: ['fleet-backup hosts', 'fleet-backup hosts --json | jq ".[] | select(.overdue)"'],
  'hosts remove': ['fleet-backup hosts remove web-99'],
  restores: ['fleet-backup restores --json'],
  expire: ['fleet-backup expire --dry-run --at 2026-06-01T03:00:00Z', 'fleet-backup expire'],
  gc: ['fleet-backup gc --dry-run', 'fleet-backup gc --scan   # after losing Postgres'],
  retire: ['fleet-backup retire 20260301_1200_schema-v42 --host db-01 --by alice'],
  report: ['fleet-backup report', 'fleet-backup report --json | jq .not321'],
  change: ['fleet-backup change verify CHG-1234 --by alice'],
  'change verify': ['fleet-backup change verify CHG-1234 --by alice'],
  'change fail': ['fleet-backup change fail CHG-1234 --reason "migration broke login" --by alice'],
  tokens: ['fleet-backup tokens list'],
  'tokens list': ['fleet-backup tokens list --all'],
  'tokens revoke': ['fleet-backup tokens revoke deployer'],
  'export-metadata': [
    'fleet-backup export-metadata --host web-01 --out /srv/backup/backup_metadata.json',
    'fleet-backup export-metadata > fleet.json',
  ],
  migrate: ['DATABASE_URL=postgres://backup@db/fleet fleet-backup migrate'],
};

/** The examples section of a command's help. */
export function examplesHelp(examples: string[]): string {
  return `\nExample${examples.length > 1 ? 's' : ''}:\n${examples.map((e) => `  ${e}`).join('\n')}`;
}

/** The command's path below the program, e.g. `tokens create`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command below the program, depth first. */
export function allCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * Help for people: examples on every command, the exit code table at the top level, and a short
 * hint (not the whole help) after a usage error, so the error line naming the flag stays visible.
 */
export function addHelp(program: Command): void {
  for (const cmd of allCommands(program)) {
    const examples = EXAMPLES[commandPath(cmd)];
    if (examples) cmd.addHelpText('after', examplesHelp(examples));
    cmd.showHelpAfterError(`(run \`fleet-backup ${commandPath(cmd)} --help\` for usage and examples)`);
  }
  program.showHelpAfterError('(run `fleet-backup --help` for the commands)');
  program.addHelpText(
    'after',
    [
      '',
      'Every command takes --help; `fleet-backup help COMMAND` too.',
      '',
      exitCodesHelp(),
      '',
      'Results go to stdout; progress to stderr: a bar on a terminal, plain lines otherwise,',
      'nothing with --json. Colors only on a terminal, and never with NO_COLOR set.',
    ].join('\n'),
  );
}

/** The paths EXAMPLES names, for the test that none is stale. */
export const EXAMPLE_PATHS = Object.keys(EXAMPLES);

/**
 * `fleet-backup help tokens create` as `fleet-backup tokens create --help`: commander's own help
 * command only reaches one level down.
 */
export function rewriteHelpCommand(argv: string[]): string[] {
  if (argv[0] !== 'help') return argv;
  return [...argv.slice(1), '--help'];
}
