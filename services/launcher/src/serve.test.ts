import { buildProgram, type Command } from '@fleet-backup/cli';
import { describe, expect, it } from 'vitest';
import { registerServeCommands } from './serve.ts';

describe('the fleet-backup command', () => {
  const program = buildProgram([registerServeCommands]);

  it('lists the roles first, then the CLI, every one with an example', () => {
    const names = program.commands.map((c) => c.name());
    expect(names.slice(0, 4)).toEqual(['start', 'producer', 'worker', 'agent']);
    expect(names).toContain('backup');
    for (const role of program.commands.slice(0, 4)) expect(helpOf(role)).toMatch(/\nExamples?:\n {2}\S/);
  });
});

/** What `--help` prints, with the text added through addHelpText (helpInformation leaves it out). */
function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}
