import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createRedis, JobQueues } from '@fleet-backup/queue';
import type { describeBackup } from '@fleet-backup/runtime';
import type { CliResult } from './cli.ts';
import { waitFor } from './cli.ts';
import type { Stack } from './stack.ts';
import { listFiles, sha256File } from './tree.ts';

/** What `show --json` prints. */
export type ShowView = ReturnType<typeof describeBackup>;

/** `show <id> --json` through the real CLI. */
export async function show(stack: Stack, id: string, env: Record<string, string> = {}): Promise<ShowView> {
  const run = await stack.cli(['show', id, '--json'], env);
  if (run.code !== 0) throw new Error(`show ${id} exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as ShowView;
}

export interface WaitedBackup {
  run: CliResult;
  /** The JSON `backup --wait --json` printed (null when it printed none, e.g. bad input). */
  result: { id: string; key: string; host: string; status: string; reason: string } | null;
}

/** `backup … --wait --json` through the real CLI: returns once the backup verified or failed. */
export async function backupAndWait(
  stack: Stack,
  args: string[],
  env: Record<string, string> = {},
): Promise<WaitedBackup> {
  const run = await stack.cli(['backup', ...args, '--wait', '--timeout', '45', '--json'], env);
  const line = run.stdout.trim();
  return { run, result: line.startsWith('{') ? JSON.parse(line) : null };
}

/** Rows of `list --json`. */
export async function listBackups(
  stack: Stack,
): Promise<{ id: string; host: string; key: string; status: string }[]> {
  const run = await stack.cli(['list', '--json', '--limit', '1000']);
  if (run.code !== 0) throw new Error(`list exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** The backup's status straight from Postgres (cheap enough to poll). */
export async function backupStatus(stack: Stack, id: string): Promise<string | undefined> {
  const r = await stack.iso.pool.query<{ status: string }>('SELECT status FROM backups WHERE id = $1', [id]);
  return r.rows[0]?.status;
}

/** Polls Postgres until the backup's status is one of `statuses`. */
export function waitForStatus(
  stack: Stack,
  id: string,
  statuses: string[],
  timeoutMs = 45_000,
): Promise<string> {
  return waitFor(
    async () => {
      const status = await backupStatus(stack, id);
      return status && statuses.includes(status) ? status : undefined;
    },
    { timeoutMs, what: `backup ${id} to become ${statuses.join(' or ')}` },
  );
}

/** Every file under dir with its sha256, keyed by relative path. */
export async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await listFiles(dir)) out[f] = await sha256File(path.join(dir, f));
  return out;
}

/** Inode and mtime of every file under dir: a file rewritten (even with the same bytes) changes them. */
export async function fileIdentities(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await listFiles(dir)) {
    const info = await stat(path.join(dir, f));
    out[f] = `${info.ino}:${info.mtimeMs}`;
  }
  return out;
}

/** A plain BullMQ Queue (what `new Queue(name, { connection, prefix })` gives). */
export type Queue = ReturnType<JobQueues['queue']>;
export type Job = NonNullable<Awaited<ReturnType<Queue['getJob']>>>;

/**
 * Direct access to the stack's BullMQ queues, as another service or Bull Board would have it:
 * to add jobs by hand (unvalidated), look at failed ones and retry them.
 */
export class QueueProbe {
  readonly redis: ReturnType<typeof createRedis>;
  private readonly queues: JobQueues;

  constructor(redisUrl: string, prefix: string) {
    this.redis = createRedis(redisUrl);
    this.queues = new JobQueues(this.redis, prefix);
  }

  /** The raw queue: `add` on it skips the catalog's validation, as a buggy producer would. */
  queue(name: string): Queue {
    return this.queues.queue(name);
  }

  async job(queue: string, id: string): Promise<Job | undefined> {
    return (await this.queue(queue).getJob(id)) ?? undefined;
  }

  /** Waits until the job is in one of the given states, then reads it (state and fields change together). */
  async waitForState(queue: string, id: string, states: string[], timeoutMs = 30_000): Promise<Job> {
    await waitFor(async () => states.includes(await this.queue(queue).getJobState(id)), {
      timeoutMs,
      what: `job ${id} on ${queue} to be ${states.join(' or ')}`,
    });
    const job = await this.job(queue, id);
    if (!job) throw new Error(`job ${id} on ${queue} vanished`);
    return job;
  }

  /** Jobs not yet finished on these queues. */
  async pending(queues: string[]): Promise<number> {
    let n = 0;
    for (const name of queues) {
      const counts = await this.queue(name).getJobCounts('wait', 'active', 'delayed', 'prioritized');
      n += Object.values(counts).reduce((a, b) => a + b, 0);
    }
    return n;
  }

  /** Waits until nothing is waiting, active or delayed on these queues. */
  async drained(queues: string[], timeoutMs = 30_000): Promise<void> {
    await waitFor(async () => (await this.pending(queues)) === 0, {
      timeoutMs,
      what: `${queues.join(', ')} to drain`,
    });
  }

  async close(): Promise<void> {
    await this.queues.close();
    this.redis.disconnect();
  }
}
