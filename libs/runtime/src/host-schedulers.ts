import type { HostRow } from '@fleet-backup/db';
import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import type { Runtime } from './runtime.ts';

/** Hosts that get a daily and a drill: in the fleet, with something to back up. */
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

/** One per-host job scheduler family on the pool queue: `<prefix><host>` firing `job`. */
export interface HostSchedulerFamily {
  job: 'daily' | 'drill';
  prefix: string;
  /** The host's scheduler: deterministic id, cron pattern and zone. */
  scheduleOf(host: HostRow): { id: string; pattern: string; timeZone: string };
}

/**
 * Makes a family's schedulers match the hosts table: one per host that wants one (wantsDaily),
 * none for others. Safe to run from several producers at once: ids are deterministic, so an
 * upsert never adds a second scheduler; an unchanged one is left alone, so its pending job is not
 * replaced every sweep. A host whose schedule cannot be made is logged and retried next sweep.
 */
export async function reconcileHostSchedulers(
  rt: Runtime,
  family: HostSchedulerFamily,
): Promise<SchedulerChanges> {
  const schedulers = new JobSchedulers(rt.queues);
  // Schedulers before hosts: a host registering in between is then seen, never removed by mistake.
  const existing = new Map((await schedulers.list(POOL_QUEUE, family.prefix)).map((s) => [s.id, s] as const));
  const hosts = (await rt.hosts.list()).filter(wantsDaily);
  const changes: SchedulerChanges = { added: [], updated: [], removed: [], total: 0 };
  const wanted = new Set<string>();
  for (const host of hosts) {
    try {
      const schedule = family.scheduleOf(host);
      wanted.add(schedule.id);
      const current = existing.get(schedule.id);
      if (
        current?.name === family.job &&
        current.pattern === schedule.pattern &&
        current.tz === schedule.timeZone &&
        (current.data as { host?: unknown } | null)?.host === host.id
      )
        continue;
      await schedulers.upsert(schedule.id, { pattern: schedule.pattern, tz: schedule.timeZone }, family.job, {
        host: host.id,
      });
      (current ? changes.updated : changes.added).push(host.id);
    } catch (err) {
      rt.log.warn(
        { err, host: host.id },
        `could not schedule the ${family.job} of this host; will try again`,
      );
    }
  }
  for (const id of existing.keys()) {
    if (wanted.has(id)) continue;
    await schedulers.remove(POOL_QUEUE, id);
    changes.removed.push(id.slice(family.prefix.length));
  }
  changes.total = wanted.size;
  if (changes.added.length || changes.updated.length || changes.removed.length) {
    rt.log.info(
      { added: changes.added, updated: changes.updated, removed: changes.removed, total: changes.total },
      `${family.job} schedulers reconciled`,
    );
  }
  return changes;
}

/** Removes one host's scheduler at once (deregistration), rather than at the next sweep. */
export function removeHostScheduler(rt: Runtime, id: string): Promise<boolean> {
  return new JobSchedulers(rt.queues).remove(POOL_QUEUE, id);
}
