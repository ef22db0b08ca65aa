import type { Config } from '@fleet-backup/config';
import type { HostRow } from '@fleet-backup/db';
import { hostQueueName, JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import { jitteredSchedule } from '../drills/schedule.ts';
import type { Runtime } from '../runtime.ts';

/** `recheck.<target>` on the pool queue: one per configured target. */
export const TARGET_RECHECK_PREFIX = 'recheck.';
/** `recheck-local` on each host's queue, run by that host's agent. */
export const LOCAL_RECHECK_SCHEDULER = 'recheck-local';

export interface RecheckSchedule {
  id: string;
  pattern: string;
  timeZone: string;
}

/** A target's daily slice: `recheckCron` in UTC (a target has no zone). */
export function targetRecheckSchedule(target: string, config: Config): RecheckSchedule {
  return { id: `${TARGET_RECHECK_PREFIX}${target}`, pattern: config.recheckCron, timeZone: 'UTC' };
}

/** A host's local slice: `recheckCron` in the host's zone, spread by its daily jitter window. */
export function hostRecheckSchedule(host: HostRow, config: Config): RecheckSchedule {
  return jitteredSchedule(LOCAL_RECHECK_SCHEDULER, host.id, {
    cron: config.recheckCron,
    jitterMinutes: host.dailyJitterMinutes ?? config.dailyJitterMinutes,
    timeZone: host.timeZone ?? 'UTC',
  });
}

export interface RecheckSchedulerChanges {
  /** Schedulers added or changed: target names, and `host:<id>` for hosts. */
  upserted: string[];
  removed: string[];
}

/**
 * Keeps the rolling re-read's job schedulers as configured, like the daily and drill ones: one
 * per configured target on the pool queue, and one on the queue of every registered host (a host
 * with only manual backups has local copies too), none for a deregistered host or a target no
 * longer configured. Deterministic ids, and an unchanged scheduler is left alone, so several
 * producers sweeping at once converge on one of each.
 */
export async function reconcileRecheckSchedulers(rt: Runtime): Promise<RecheckSchedulerChanges> {
  const schedulers = new JobSchedulers(rt.queues);
  const changes: RecheckSchedulerChanges = { upserted: [], removed: [] };
  const existing = await schedulers.list(POOL_QUEUE, TARGET_RECHECK_PREFIX);
  const targets = rt.targets.names();
  for (const target of targets) {
    const s = targetRecheckSchedule(target, rt.config);
    const current = existing.find((e) => e.id === s.id);
    if (current?.pattern === s.pattern && current.tz === s.timeZone) continue;
    await schedulers.upsert(s.id, { pattern: s.pattern, tz: s.timeZone }, 'recheck', { target });
    changes.upserted.push(target);
  }
  for (const e of existing) {
    if (targets.some((t) => targetRecheckSchedule(t, rt.config).id === e.id)) continue;
    await schedulers.remove(POOL_QUEUE, e.id);
    changes.removed.push(e.id);
  }
  for (const host of await rt.hosts.list()) await reconcileHost(rt, schedulers, host, changes);
  if (changes.upserted.length || changes.removed.length)
    rt.log.info(changes, 're-check schedulers reconciled');
  return changes;
}

async function reconcileHost(
  rt: Runtime,
  schedulers: JobSchedulers,
  host: HostRow,
  changes: RecheckSchedulerChanges,
): Promise<void> {
  const queue = hostQueueName(host.id);
  const current = (await schedulers.list(queue, LOCAL_RECHECK_SCHEDULER)).find(
    (s) => s.id === LOCAL_RECHECK_SCHEDULER,
  );
  if (host.deregisteredAt !== null) {
    if (current && (await schedulers.remove(queue, LOCAL_RECHECK_SCHEDULER)))
      changes.removed.push(`host:${host.id}`);
    return;
  }
  const s = hostRecheckSchedule(host, rt.config);
  if (current?.pattern === s.pattern && current.tz === s.timeZone) return;
  await schedulers.upsert(s.id, { pattern: s.pattern, tz: s.timeZone }, 'recheck-local', { host: host.id });
  changes.upserted.push(`host:${host.id}`);
}
