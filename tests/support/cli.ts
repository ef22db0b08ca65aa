import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../services/launcher/bin/fleet-backup.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `fleet-backup` CLI to completion with the given environment. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fleet-backup ${args.join(' ')} timed out\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running role (`producer`, `worker`, `agent --host X`) as its own process. */
export class RoleProcess {
  readonly child: ChildProcess;
  readonly name: string;
  log = '';
  private readonly exited: Promise<number | null>;

  constructor(args: string[], env: Record<string, string>, opts: { wrap?: string[] } = {}) {
    this.name = args.join(' ');
    const command = opts.wrap ? opts.wrap[0]! : process.execPath;
    const commandArgs = opts.wrap ? [...opts.wrap.slice(1), process.execPath, BIN, ...args] : [BIN, ...args];
    this.child = spawn(command, commandArgs, { env: { ...process.env, ...env }, stdio: 'pipe' });
    this.child.stdout?.on('data', (d) => (this.log += d));
    this.child.stderr?.on('data', (d) => (this.log += d));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /**
   * Resolves once the log contains the text (e.g. a readiness line). A minute: a role's start
   * (node, migrations, Bull Board) took over 30 s on this shared machine under a load of 26.
   */
  async waitForLog(pattern: RegExp | string, timeoutMs = 60_000): Promise<void> {
    await waitFor(() => (typeof pattern === 'string' ? this.log.includes(pattern) : pattern.test(this.log)), {
      timeoutMs,
      what: `${this.name} to log ${pattern}`,
      detail: () => this.log.slice(-2000),
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM and wait: resolves to the exit code (0 is a clean shutdown). */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.alive) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** SIGKILL: a crash, no cleanup. */
  async kill(): Promise<void> {
    if (!this.alive) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls until check() is truthy. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string; detail?: () => string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${opts.what ?? 'condition'}${opts.detail ? `\n${opts.detail()}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

export const repoRoot = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * `backup` arguments for a manual backup of paths, with the purpose and retention the seed asks
 * for (`permanent`; a `--retention` in flags comes later and wins).
 */
export function manualBackup(
  host: string,
  description: string,
  paths: string[],
  ...flags: string[]
): string[] {
  const args = ['backup', '--host', host, '--kind', 'manual', '--purpose', `test: ${description}`];
  const withRetention = [...args, '--retention', 'permanent', '--description', description];
  return [...withRetention, ...paths.flatMap((p) => ['--path', p]), ...flags];
}
