import type { Config } from '@fleet-backup/config';
import {
  DAILY_SCHEDULER_PREFIX,
  type DailySchedule,
  dailySchedule,
  dailySchedulerId,
} from '@fleet-backup/core';
import type { HostRow } from '@fleet-backup/db';
import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import type { Runtime } from './runtime.ts';

/** A host's daily: its own time and window if its config sets them, else the installation's. */
export function hostDailySchedule(host: HostRow, config: Config): DailySchedule {
  return dailySchedule(host.id, {
    at: host.dailyAt ?? config.dailyAt,
    jitterMinutes: host.dailyJitterMinutes ?? config.dailyJitterMinutes,
    timeZone: host.timeZone ?? 'UTC',
  });
}

/** Hosts that get a daily: in the fleet, with something to back up. */
export function wantsDaily(host: HostRow): boolean {
  return host.deregisteredAt === null && host.sources.length > 0;
}

export interface SchedulerChanges {
  added: string[];
  updated: string[];
  removed: string[];
  /** Schedulers that exist now. */
  total: number;
}

/**
 * Makes the `daily.<host>` schedulers on the pool queue match the hosts table: one per host that
 * wants a daily, none for others. Safe to run from several producers at once: ids are
 * deterministic, so an upsert never adds a second scheduler; an unchanged one is left alone, so
 * its pending job is not replaced every sweep.
 */
export async function reconcileDailySchedulers(rt: Runtime): Promise<SchedulerChanges> {
  const schedulers = new JobSchedulers(rt.queues);
  // Schedulers before hosts: a host registering in between is then seen, never removed by mistake.
  const existing = new Map(
    (await schedulers.list(POOL_QUEUE, DAILY_SCHEDULER_PREFIX)).map((s) => [s.id, s] as const),
  );
  const hosts = (await rt.hosts.list()).filter(wantsDaily);
  const changes: SchedulerChanges = { added: [], updated: [], removed: [], total: 0 };
  const wanted = new Set<string>();
  for (const host of hosts) {
    try {
      const schedule = hostDailySchedule(host, rt.config);
      wanted.add(schedule.id);
      const current = existing.get(schedule.id);
      if (
        current?.name === 'daily' &&
        current.pattern === schedule.pattern &&
        current.tz === schedule.timeZone &&
        (current.data as { host?: unknown } | null)?.host === host.id
      )
        continue;
      await schedulers.upsert(schedule.id, { pattern: schedule.pattern, tz: schedule.timeZone }, 'daily', {
        host: host.id,
      });
      (current ? changes.updated : changes.added).push(host.id);
    } catch (err) {
      rt.log.warn({ err, host: host.id }, 'could not schedule the daily of this host; will try again');
    }
  }
  for (const id of existing.keys()) {
    if (wanted.has(id)) continue;
    await schedulers.remove(POOL_QUEUE, id);
    changes.removed.push(id.slice(DAILY_SCHEDULER_PREFIX.length));
  }
  changes.total = wanted.size;
  if (changes.added.length || changes.updated.length || changes.removed.length) {
    rt.log.info(
      { added: changes.added, updated: changes.updated, removed: changes.removed, total: changes.total },
      'daily schedulers reconciled',
    );
  }
  return changes;
}

/** Removes a host's daily scheduler at once (deregistration), rather than at the next sweep. */
export function removeDailyScheduler(rt: Runtime, host: string): Promise<boolean> {
  return new JobSchedulers(rt.queues).remove(POOL_QUEUE, dailySchedulerId(host));
}
