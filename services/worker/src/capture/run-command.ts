import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type FileHandle, stat } from 'node:fs/promises';
import type { DependencyCommand } from '@fleet-backup/config';
import { createPrivate, writeCapped } from './capped-write.ts';

/** stderr is diagnostic: its head is kept in memory, for the record, and no more. */
const STDERR_KEPT = 16 * 1024;
/** Between SIGTERM and SIGKILL, and how long stdio may stay open after the command exited. */
const GRACE_MS = 2_000;

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  /** The command could not start (e.g. `spawn dpkg-query ENOENT`: not on PATH), or null. */
  error: string | null;
  timedOut: boolean;
  /** Output went past maxOutputBytes: the first maxOutputBytes are kept and the command was stopped. */
  truncated: boolean;
  /** stdout bytes written to the output file. */
  outputBytes: number;
  stderr: string;
}

/**
 * Runs one dependency command: argv without a shell, stdin closed, a minimal environment (no
 * agent credential can reach the command or its output), stdout streamed to `outFile` up to the
 * cap. Its own process group is killed on timeout, on the cap and on abort, so a child it started
 * cannot outlive it. Never throws for the command's sake: every failure is in the result.
 */
export async function runCommand(
  cmd: DependencyCommand,
  outFile: string,
  signal: AbortSignal,
): Promise<CommandResult> {
  const out = await createPrivate(outFile);
  try {
    // Spawn would blame the program (`spawn npm ENOENT`) for a missing working directory.
    const cwd = cmd.cwd ? await stat(cmd.cwd).catch(() => null) : null;
    if (cmd.cwd && !cwd?.isDirectory()) return notStarted(`working directory ${cmd.cwd} is not a directory`);
    return await spawnInto(cmd, out, signal);
  } finally {
    await out.close();
  }
}

function notStarted(error: string): CommandResult {
  return {
    exitCode: null,
    signal: null,
    error,
    timedOut: false,
    truncated: false,
    outputBytes: 0,
    stderr: '',
  };
}

/**
 * Nothing is awaited between the spawn and reading stdout (the file is open already): Node
 * discards the output of a child that exits while nobody is reading it.
 */
async function spawnInto(
  cmd: DependencyCommand,
  out: FileHandle,
  signal: AbortSignal,
): Promise<CommandResult> {
  const [program, ...args] = cmd.argv as [string, ...string[]];
  const child = spawn(program, args, {
    cwd: cmd.cwd,
    env: commandEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    shell: false,
  });
  let spawnError: string | null = null;
  let timedOut = false;
  let stopping: NodeJS.Timeout | undefined;
  const stop = () => {
    if (stopping) return;
    killGroup(child.pid, 'SIGTERM');
    stopping = setTimeout(() => killGroup(child.pid, 'SIGKILL'), GRACE_MS);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, cmd.timeoutSeconds * 1000);
  signal.addEventListener('abort', stop, { once: true });
  child.on('error', (err) => {
    spawnError = err.message;
  });

  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < STDERR_KEPT) stderr += d.toString('utf8', 0, STDERR_KEPT - stderr.length);
  });
  const exited = exitOf(child);
  try {
    const written = await writeCapped(closesAfterExit(child.stdout, exited), out, cmd.maxOutputBytes, stop);
    const { code, sig } = await exited;
    return {
      exitCode: code,
      signal: sig,
      error: spawnError,
      timedOut,
      truncated: written.truncated,
      outputBytes: written.kept,
      stderr,
    };
  } finally {
    clearTimeout(timer);
    clearTimeout(stopping);
    signal.removeEventListener('abort', stop);
  }
}

/** What a command sees: PATH and HOME to find its tools and files, and the C locale for stable output. */
function commandEnv(): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH || '/usr/bin:/bin', LC_ALL: 'C' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  return env;
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

/** Resolves once the process has ended, or at once when it never started. */
async function exitOf(child: ReturnType<typeof spawn>): Promise<{ code: number | null; sig: string | null }> {
  if (child.pid === undefined) {
    await once(child, 'error').catch(() => {});
    return { code: null, sig: null };
  }
  if (child.exitCode !== null || child.signalCode !== null)
    return { code: child.exitCode, sig: child.signalCode };
  const [code, sig] = (await once(child, 'exit')) as [number | null, string | null];
  return { code, sig };
}

/**
 * The output stream, ended at the latest GRACE_MS after the command exited: a grandchild that left
 * the process group could otherwise hold the pipe open, and the backup, forever.
 */
async function* closesAfterExit(
  stdout: NodeJS.ReadableStream & { destroy(): void },
  exited: Promise<unknown>,
): AsyncGenerator<Buffer | string> {
  let grace: NodeJS.Timeout | undefined;
  void exited.then(() => {
    grace = setTimeout(() => stdout.destroy(), GRACE_MS);
  });
  try {
    for await (const chunk of stdout) yield chunk;
  } catch (err) {
    // A destroyed stream ends with a premature-close error: what was read is kept.
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
  } finally {
    clearTimeout(grace);
  }
}
