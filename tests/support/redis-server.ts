import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './cli.ts';

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A private, memory-only redis-server on its own port, for tests that kill Redis: the shared
 * one stays untouched. Every start is empty (no RDB, no AOF).
 */
export class RedisServer {
  readonly port: number;
  private readonly dir: string;
  private child: ChildProcess | null = null;
  private exited: Promise<unknown> = Promise.resolve();
  log = '';

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), await mkdtemp(path.join(os.tmpdir(), 'fbt-redis-')));
    await server.restart();
    return server;
  }

  get running(): boolean {
    return this.child !== null;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts redis-server (again, empty) and waits until it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (d) => (this.log += d));
    child.stderr?.on('data', (d) => (this.log += d));
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    this.child = child;
    await waitFor(() => this.log.includes('Ready to accept connections') || child.exitCode !== null, {
      timeoutMs: 10_000,
      what: 'redis-server to start',
      detail: () => this.log,
    });
    if (child.exitCode !== null) throw new Error(`redis-server exited ${child.exitCode}:\n${this.log}`);
  }

  /** SIGKILL: everything in memory is gone. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
