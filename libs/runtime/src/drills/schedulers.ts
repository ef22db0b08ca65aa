import type { Config } from '@fleet-backup/config';
import type { HostRow } from '@fleet-backup/db';
import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import { type SchedulerChanges, wantsDaily } from '../daily-schedulers.ts';
import type { Runtime } from '../runtime.ts';
import { DRILL_SCHEDULER_PREFIX, type DrillSchedule, drillSchedule, drillSchedulerId } from './schedule.ts';

/** A host's drill: `drillCron` in the host's zone, spread by the host's daily jitter window. */
export function hostDrillSchedule(host: HostRow, config: Config): DrillSchedule {
  return drillSchedule(host.id, {
    cron: config.drillCron,
    jitterMinutes: host.dailyJitterMinutes ?? config.dailyJitterMinutes,
    timeZone: host.timeZone ?? 'UTC',
  });
}

/**
 * Makes the `drill.<host>` schedulers on the pool queue match the hosts table: one per host that
 * is backed up (in the fleet, with sources), none for others. Deterministic ids make it safe from
 * several producers at once, and an unchanged scheduler is left alone so its next run stays put.
 */
export async function reconcileDrillSchedulers(rt: Runtime): Promise<SchedulerChanges> {
  const schedulers = new JobSchedulers(rt.queues);
  // Schedulers before hosts: a host registering in between is then seen, never removed by mistake.
  const existing = new Map(
    (await schedulers.list(POOL_QUEUE, DRILL_SCHEDULER_PREFIX)).map((s) => [s.id, s] as const),
  );
  const hosts = (await rt.hosts.list()).filter(wantsDaily);
  const changes: SchedulerChanges = { added: [], updated: [], removed: [], total: 0 };
  const wanted = new Set<string>();
  for (const host of hosts) {
    try {
      const schedule = hostDrillSchedule(host, rt.config);
      wanted.add(schedule.id);
      const current = existing.get(schedule.id);
      if (
        current?.name === 'drill' &&
        current.pattern === schedule.pattern &&
        current.tz === schedule.timeZone &&
        (current.data as { host?: unknown } | null)?.host === host.id
      )
        continue;
      await schedulers.upsert(schedule.id, { pattern: schedule.pattern, tz: schedule.timeZone }, 'drill', {
        host: host.id,
      });
      (current ? changes.updated : changes.added).push(host.id);
    } catch (err) {
      rt.log.warn(
        { err, host: host.id },
        'could not schedule the restore drill of this host; will try again',
      );
    }
  }
  for (const id of existing.keys()) {
    if (wanted.has(id)) continue;
    await schedulers.remove(POOL_QUEUE, id);
    changes.removed.push(id.slice(DRILL_SCHEDULER_PREFIX.length));
  }
  changes.total = wanted.size;
  if (changes.added.length || changes.updated.length || changes.removed.length) {
    rt.log.info(
      { added: changes.added, updated: changes.updated, removed: changes.removed, total: changes.total },
      'drill schedulers reconciled',
    );
  }
  return changes;
}

/** Removes a host's drill scheduler at once (deregistration), rather than at the next sweep. */
export function removeDrillScheduler(rt: Runtime, host: string): Promise<boolean> {
  return new JobSchedulers(rt.queues).remove(POOL_QUEUE, drillSchedulerId(host));
}
