// What is timed on fleet-backup: `backup --wait` to the local copy `verified` (the moment the hash
// stage recorded it, read from Postgres), and a pre-change's wait behind a running daily.
import type { FleetStack } from './fleet-stack.ts';

const WAIT_LIMIT_SECONDS = 3 * 3600;

export interface FleetRun {
  id: string | null;
  status: string;
  /** From starting `backup --wait` to the local copy `verified`; null when it never got there. */
  seconds: number | null;
  /** From starting `backup --wait` to its return (every copy verified, or the failure). */
  totalSeconds: number;
  /** Seconds each local stage ran, from its recorded start and end. */
  stages: Record<string, number>;
  reason?: string;
}

/** A manual backup of `paths`, waited for to its end; timed to the local copy `verified`. */
export async function timedBackup(
  stack: FleetStack,
  host: string,
  paths: string[],
  label: string,
): Promise<FleetRun> {
  const started = Date.now();
  const out = await stack.cli([
    'backup',
    '--host',
    host,
    '--kind',
    'manual',
    '--purpose',
    `bench: ${label}`,
    '--retention',
    'days_1',
    ...paths.flatMap((p) => ['--path', p]),
    '--wait',
    // A stuck pipeline ends the measure (as a figure-less FAIL) rather than the whole benchmark.
    '--timeout',
    String(WAIT_LIMIT_SECONDS),
    '--json',
  ]);
  const totalSeconds = (Date.now() - started) / 1000;
  const result = parseJson(out.stdout) as { id?: string; status?: string; reason?: string } | null;
  if (!result?.id)
    return {
      id: null,
      status: 'error',
      seconds: null,
      totalSeconds,
      stages: {},
      reason: out.stderr.slice(-500),
    };
  const local = await stack.row<{ verified_at: Date | null }>(
    `SELECT verified_at FROM backup_copies WHERE backup_id = $1 AND target = 'local'`,
    [result.id],
  );
  return {
    id: result.id,
    status: result.status ?? 'unknown',
    seconds: local?.verified_at ? (local.verified_at.getTime() - started) / 1000 : null,
    totalSeconds,
    stages: await stageSeconds(stack, result.id),
    ...(result.status === 'verified' ? {} : { reason: result.reason ?? out.stderr.slice(-500) }),
  };
}

/** Seconds per stage that ran on the agent for the local copy (snapshot, hash). */
async function stageSeconds(stack: FleetStack, id: string): Promise<Record<string, number>> {
  const rows = await stack.iso.pool.query<{ stage: string; seconds: number }>(
    `SELECT stage, extract(epoch FROM finished_at - started_at)::float8 AS seconds
       FROM backup_stages WHERE backup_id = $1 AND target = '' AND finished_at IS NOT NULL`,
    [id],
  );
  return Object.fromEntries(rows.rows.map((r) => [r.stage, r.seconds]));
}

export interface PreChangeWait {
  /** From the pre-change's request (its created time) to its snapshot stage's start; null: not within the limit. */
  seconds: number | null;
  limitSeconds: number;
  /** Whether the daily was still running when the pre-change's snapshot started. */
  dailyStillRunning: boolean | null;
  /** The daily's stages running when the pre-change was requested (empty: it was between stages). */
  dailyStagesAtRequest: string[];
}

/**
 * P6: a daily of `dailyPath` is requested; once its snapshot is running, a pre-change of
 * `preChangePath` on the same host is requested, and the pre-change's wait until its own snapshot
 * starts is read from Postgres. Then waits (up to the limit) for the pre-change's local copy, so the
 * agent has had both backups in hand before its peak RSS is read.
 */
export async function preChangeWhileDaily(
  stack: FleetStack,
  host: string,
  dailyPath: string,
  preChangePath: string,
  limitSeconds: number,
): Promise<PreChangeWait> {
  const daily = await request(stack, ['--host', host, '--kind', 'daily', '--path', dailyPath]);
  await poll(limitSeconds, () =>
    stack.row(
      `SELECT 1 FROM backup_stages WHERE backup_id = $1 AND stage = 'snapshot' AND started_at IS NOT NULL`,
      [daily],
    ),
  );
  // Well into the daily's snapshot, not racing its first file.
  await new Promise((r) => setTimeout(r, 1000));
  const running = await stack.iso.pool.query<{ stage: string; target: string }>(
    `SELECT stage, target FROM backup_stages WHERE backup_id = $1 AND status = 'running' ORDER BY stage, target`,
    [daily],
  );
  const pre = await request(stack, [
    '--host',
    host,
    '--kind',
    'pre_change',
    '--path',
    preChangePath,
    '--description',
    'bench pre-change',
    '--ticket',
    'BENCH-1',
  ]);
  const started = await poll(limitSeconds, () =>
    stack.row<{ seconds: number; daily_running: boolean }>(
      `SELECT extract(epoch FROM s.started_at - b.created_at)::float8 AS seconds,
              (SELECT status = 'running' FROM backups WHERE id = $2) AS daily_running
         FROM backup_stages s JOIN backups b ON b.id = s.backup_id
        WHERE s.backup_id = $1 AND s.stage = 'snapshot' AND s.started_at IS NOT NULL`,
      [pre, daily],
    ),
  );
  if (started)
    await poll(limitSeconds, () =>
      stack.row(
        `SELECT 1 FROM backup_copies WHERE backup_id = $1 AND target = 'local' AND verified_at IS NOT NULL`,
        [pre],
      ),
    );
  return {
    seconds: started?.seconds ?? null,
    limitSeconds,
    dailyStillRunning: started?.daily_running ?? null,
    dailyStagesAtRequest: running.rows.map((r) => (r.target ? `${r.stage}(${r.target})` : r.stage)),
  };
}

async function request(stack: FleetStack, args: string[]): Promise<string> {
  const out = await stack.cli(['backup', ...args, '--json']);
  const parsed = parseJson(out.stdout) as { id?: string } | null;
  if (!parsed?.id) throw new Error(`fleet-backup backup ${args.join(' ')} failed: ${out.stderr.slice(-500)}`);
  return parsed.id;
}

async function poll<T>(limitSeconds: number, check: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + limitSeconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
