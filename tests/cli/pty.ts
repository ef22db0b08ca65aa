import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type CliResult, waitFor } from '../support/cli.ts';

const BIN = fileURLToPath(new URL('../../services/launcher/bin/fleet-backup.js', import.meta.url));

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Starts the real CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would:
 * stdout and stderr are both the terminal, so what it drew lands in `screen`, escape sequences
 * included. The terminal is 120 columns wide. With `pidFile`, the shell writes its PID there
 * before it execs node, so that file names the CLI's own process.
 */
function spawnInPty(
  args: string[],
  env: Record<string, string>,
  pidFile?: string,
): { child: ChildProcess; screen: () => string; stderr: () => string } {
  const pid = pidFile ? `echo $$ > ${quote(pidFile)}; ` : '';
  const command = `stty cols 120 rows 40; ${pid}exec ${[process.execPath, BIN, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, TERM: 'xterm-256color', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return { child, screen: () => stdout, stderr: () => stderr };
}

function ended(run: ReturnType<typeof spawnInPty>, timeoutMs: number, what: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`fleet-backup ${what} (pty) timed out\n${run.screen()}${run.stderr()}`));
    }, timeoutMs);
    run.child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: run.screen(), stderr: run.stderr() });
    });
  });
}

/** Runs a CLI command on a pseudo-terminal to its end; `stdout` holds everything it drew. */
export function runInPty(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 120_000,
): Promise<CliResult> {
  return ended(spawnInPty(args, env), timeoutMs, args.join(' '));
}

/**
 * Starts a role on a pseudo-terminal, waits until it has drawn `ready`, then stops it with
 * SIGTERM as Ctrl-C's neighbour would, and gives back everything it drew.
 */
export async function roleInPty(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  pidFile: string,
): Promise<CliResult> {
  const run = spawnInPty(args, env, pidFile);
  const result = ended(run, 120_000, args.join(' '));
  const stop = async (signal: NodeJS.Signals) =>
    process.kill(Number(await readFile(pidFile, 'utf8')), signal);
  try {
    await waitFor(() => ready.test(run.screen()), {
      timeoutMs: 60_000,
      what: `${args.join(' ')} to draw ${ready}`,
      detail: run.screen,
    });
  } catch (err) {
    await stop('SIGKILL').catch(() => {});
    throw err;
  }
  await stop('SIGTERM');
  return result;
}
