import { randomUUID } from 'node:crypto';
import { isKept, LOCAL_COPY, NotFoundFailure } from '@fleet-backup/core';
import { type BackupRow, CopyChecks } from '@fleet-backup/db';
import type { JobData, VerifyCopyResult } from '@fleet-backup/queue';
import { type JobOutcome, type Runtime, resolveBackup, waitForJob } from '@fleet-backup/runtime';
import { CliError, EXIT } from '../exit.ts';

/** What one copy read as: verified; corrupt (a repair is queued); healed (read bad, fetched again, verified). */
export type VerifyResult = 'verified' | 'corrupt' | 'healed' | 'unreachable' | 'not checked' | 'skipped';

export interface CopyOutcome {
  backupId: string;
  host: string;
  key: string;
  copy: string;
  result: VerifyResult;
  /** What read bad (before any heal). */
  problems: { path: string; problem: string }[];
  healed: { path: string; from: string }[];
  note: string | null;
}

export interface VerifySelection {
  id?: string;
  host?: string;
  all?: boolean;
}

type Chosen = Pick<BackupRow, 'id' | 'host' | 'key'>;

/** The backups to read: one by id (or by key with --host), a host's kept backups, or every kept backup. */
export async function selectBackups(rt: Runtime, sel: VerifySelection): Promise<Chosen[]> {
  const forms = [sel.id !== undefined, sel.host !== undefined && sel.id === undefined, sel.all === true];
  if (forms.filter(Boolean).length !== 1) {
    throw new CliError(
      'say which backups to verify: an ID (or KEY --host H), --host H, or --all',
      EXIT.usage,
    );
  }
  if (sel.id !== undefined) return [await oneBackup(rt, sel.id, sel.host)];
  if (sel.host !== undefined && !(await rt.hosts.get(sel.host))) {
    throw new NotFoundFailure(`unknown host ${sel.host}`, { host: sel.host });
  }
  return new CopyChecks(rt.pool, rt.clock).keptBackups(sel.host ?? null);
}

async function oneBackup(rt: Runtime, idOrKey: string, host: string | undefined): Promise<Chosen> {
  const backup = await rt.backups.require(await resolveBackup(rt, idOrKey, host));
  if (!isKept(backup.lifecycle)) {
    throw new CliError(
      `backup ${backup.key} of ${backup.host} is ${backup.lifecycle}: its copies are being removed or gone`,
      EXIT.usage,
    );
  }
  return backup;
}

/** Refuses a --target that is neither `local` nor a configured target. */
export function checkTargetName(rt: Runtime, target: string | undefined): void {
  if (target === undefined || target === LOCAL_COPY || rt.targets.names().includes(target)) return;
  throw new CliError(
    `--target must be local or a configured target (${rt.targets.names().join(', ') || 'none'}), got ${target}`,
    EXIT.usage,
  );
}

type Base = Omit<CopyOutcome, 'result' | 'note'>;

/** A read queued for a copy: a target's on the pool, a local copy's on its host's agent. */
interface Queued {
  base: Base;
  queue: string;
  jobId: string;
  /** The outcome, from the finished job. */
  outcome(done: JobOutcome): Promise<CopyOutcome>;
}

/**
 * Reads every verified or corrupt copy of the backups back in full, each where it is read from:
 * a target's copy on a pool worker (which holds the targets' credentials; a corrupt one gets a
 * repair queued), each local copy on its host's agent (which heals what reads bad from a target).
 * Each is a job, waited for up to `timeoutMs` in all; one not run by then stays queued. Copies the
 * pipeline has not verified yet are left to it.
 */
export async function verifyBackups(
  rt: Runtime,
  chosen: Chosen[],
  opts: { target?: string; timeoutMs: number },
): Promise<CopyOutcome[]> {
  const outcomes: CopyOutcome[] = [];
  const queued: Queued[] = [];
  const enqueue = async <N extends 'verify-local' | 'verify-copy'>(name: N, data: JobData<N>) => ({
    queue: rt.queues.queueFor(name, data),
    jobId: await rt.queues.add(name, data),
  });
  for (const b of chosen) {
    const detail = await rt.backups.detail(b.id);
    for (const copy of detail.copies.filter((c) => !opts.target || c.target === opts.target)) {
      const base = { backupId: b.id, host: b.host, key: b.key, copy: copy.target, problems: [], healed: [] };
      if (copy.status !== 'verified' && copy.status !== 'corrupt') {
        outcomes.push({
          ...base,
          result: 'skipped',
          note: `copy is ${copy.status}: the backup's pipeline reads it`,
        });
      } else if (copy.target === LOCAL_COPY) {
        const data = { backupId: b.id, host: b.host, checkId: randomUUID(), by: 'cli' as const };
        queued.push({
          base,
          ...(await enqueue('verify-local', data)),
          outcome: (done) => localOutcome(rt, base, data.checkId, done, opts.timeoutMs),
        });
      } else {
        const data = { backupId: b.id, host: b.host, target: copy.target, by: 'cli' as const };
        queued.push({
          base,
          ...(await enqueue('verify-copy', data)),
          outcome: async (done) => targetOutcome(base, done, opts.timeoutMs),
        });
      }
    }
  }
  const deadline = performance.now() + opts.timeoutMs;
  for (const job of queued) {
    const timeoutMs = Math.max(0, deadline - performance.now());
    outcomes.push(await job.outcome(await waitForJob(rt, job.queue, job.jobId, timeoutMs)));
  }
  return outcomes;
}

function targetOutcome(base: Base, done: JobOutcome, timeoutMs: number): CopyOutcome {
  if (done.state === 'timeout') {
    const note = `no pool worker read it within ${Math.round(timeoutMs / 1000)} s (is \`fleet-backup worker\` running?); the read stays queued`;
    return { ...base, result: 'not checked', note };
  }
  if (done.state !== 'completed') {
    const again = done.state === 'retrying' ? '; the read is tried again' : '';
    return { ...base, result: 'unreachable', note: `${done.reason}${again}` };
  }
  const read = done.value as VerifyCopyResult;
  if (read.status === null) return { ...base, result: 'skipped', note: 'the backup is being removed' };
  const bad = read.problems.length > 0;
  return {
    ...base,
    result: bad ? 'corrupt' : 'verified',
    problems: read.problems,
    note: bad ? 'a repair from a good copy is queued' : null,
  };
}

async function localOutcome(
  rt: Runtime,
  base: Base,
  checkId: string,
  done: JobOutcome,
  timeoutMs: number,
): Promise<CopyOutcome> {
  if (done.state === 'timeout') {
    const note = `no agent for host ${base.host} ran the check within ${Math.round(timeoutMs / 1000)} s (is \`fleet-backup agent --host ${base.host}\` running?); it stays queued`;
    return { ...base, result: 'not checked', note };
  }
  if (done.state !== 'completed') {
    const again = done.state === 'retrying' ? '; it is tried again' : '';
    return { ...base, result: 'not checked', note: `the agent's check failed: ${done.reason}${again}` };
  }
  const copy = (await rt.backups.detail(base.backupId)).copies.find((c) => c.target === LOCAL_COPY);
  const check = copy?.detail.check as
    | { id?: string; found?: CopyOutcome['problems']; healed?: CopyOutcome['healed'] }
    | undefined;
  if (!copy || !check || check.id !== checkId) {
    return {
      ...base,
      result: 'skipped',
      note: 'the agent did not read it: not written yet, or being removed',
    };
  }
  const found = check.found ?? [];
  const healed = check.healed ?? [];
  const result: VerifyResult =
    found.length === 0 ? 'verified' : copy.status === 'verified' ? 'healed' : 'corrupt';
  const note =
    result === 'healed'
      ? 'fetched again from a verified copy and read good'
      : result === 'corrupt'
        ? `no copy on a target could heal it; run a new backup of host ${base.host}`
        : null;
  return { ...base, result, problems: found, healed, note };
}
