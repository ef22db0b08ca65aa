import { Command, CommanderError } from 'commander';
import { checkArguments } from './arguments.ts';
import { registerAdminCommands } from './commands/admin.ts';
import { registerBackupCommand } from './commands/backup.ts';
import { registerChangeCommands } from './commands/change.ts';
import { registerConfigCommands } from './commands/config.ts';
import { registerDrillCommands } from './commands/drill.ts';
import { registerForgetCommand } from './commands/forget.ts';
import { registerHostCommands } from './commands/hosts.ts';
import { registerInspectCommands } from './commands/inspect.ts';
import { registerKeyCommands } from './commands/keys.ts';
import { registerLifecycleCommands } from './commands/lifecycle.ts';
import { registerPlanCommand } from './commands/plan.ts';
import { registerRestoreCommands } from './commands/restore.ts';
import { registerTokenCommands } from './commands/tokens.ts';
import { registerVerifyCommand } from './commands/verify.ts';
import { EXIT, reportError } from './exit.ts';
import { addHelp, rewriteHelpCommand } from './help.ts';

export type { Command } from 'commander';
export { allCommands, examplesHelp } from './help.ts';
export { wholeNumber } from './options.ts';

/** Commands a package above the CLI adds (the launcher's roles), listed first. */
export type RegisterCommands = (program: Command) => void;

/** Builds the `fleet-backup` command line: the commands of `more`, then the CLI's own. */
export function buildProgram(more: RegisterCommands[] = []): Command {
  const program = new Command('fleet-backup')
    .description('verified 3-2-1 backups for a fleet of hosts')
    .exitOverride();
  for (const register of more) register(program);
  registerBackupCommand(program);
  registerPlanCommand(program);
  registerConfigCommands(program);
  registerInspectCommands(program);
  registerHostCommands(program);
  registerRestoreCommands(program);
  registerDrillCommands(program);
  registerVerifyCommand(program);
  registerLifecycleCommands(program);
  registerForgetCommand(program);
  registerChangeCommands(program);
  registerTokenCommands(program);
  registerKeyCommands(program);
  registerAdminCommands(program);
  addHelp(program);
  // Every option and argument of every command, checked before its action opens anything.
  program.hook('preAction', checkArguments);
  return program;
}

/** Runs the CLI and returns its exit code. */
export async function main(argv: string[], more: RegisterCommands[] = []): Promise<number> {
  try {
    await buildProgram(more).parseAsync(rewriteHelpCommand(argv), { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    return reportError(err);
  }
}
