import { describe, expect, it } from 'vitest';
import { EXIT, EXIT_CODES, isConnectionFailure, serviceAddress } from './exit.ts';
import { allCommands, commandPath, EXAMPLE_PATHS, rewriteHelpCommand } from './help.ts';
import { buildProgram } from './index.ts';

describe('help', () => {
  const program = buildProgram();
  const commands = allCommands(program);

  it('shows at least one example on every command', () => {
    const missing = commands
      .filter((c) => c.name() !== 'help')
      .filter((c) => !/\nExamples?:\n {2}\S/.test(captureHelp(c)))
      .map(commandPath);
    expect(missing).toEqual([]);
  });

  it('names only commands that exist among its examples', () => {
    const paths = new Set(commands.map(commandPath));
    expect(EXAMPLE_PATHS.filter((p) => !paths.has(p))).toEqual([]);
  });

  it('prints the exit code table at the top level', () => {
    const help = captureHelp(program);
    for (const e of EXIT_CODES) expect(help).toContain(`  ${e.code}  ${e.meaning}`);
  });

  it('reads `help a b` as `a b --help`, any depth', () => {
    expect(rewriteHelpCommand(['help', 'tokens', 'create'])).toEqual(['tokens', 'create', '--help']);
    expect(rewriteHelpCommand(['help'])).toEqual(['--help']);
    expect(rewriteHelpCommand(['list', 'help'])).toEqual(['list', 'help']);
  });
});

describe('exit codes', () => {
  it('keeps the documented numbers', () => {
    expect(EXIT).toEqual({ ok: 0, failed: 1, usage: 2, notFound: 3, unsafe: 4, unreachable: 5 });
  });

  it('tells a service connection failure from the work failing', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(isConnectionFailure(refused)).toBe(true);
    expect(isConnectionFailure(new AggregateError([refused], ''))).toBe(true);
    expect(isConnectionFailure(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('shutting down'), { code: '57P01' }))).toBe(true);
    expect(isConnectionFailure(Object.assign(new Error('syntax'), { code: '42601' }))).toBe(false);
    expect(isConnectionFailure(new Error('could not restore a.txt from any copy'))).toBe(false);
  });

  it('names a service by host and port, never its password', () => {
    expect(serviceAddress('postgres://root:s3cret@db.internal:5432/fleet')).toBe('db.internal:5432');
    expect(serviceAddress('redis://:hunter2@10.0.0.5:6379/0')).toBe('10.0.0.5:6379');
    expect(serviceAddress('not a url')).not.toContain('not a url');
  });
});

/** What `--help` prints, with the text added through addHelpText (helpInformation leaves it out). */
function captureHelp(cmd: ReturnType<typeof buildProgram>): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}
