import type { Config } from '@fleet-backup/config';
import {
  DAILY_SCHEDULER_PREFIX,
  type DailySchedule,
  dailySchedule,
  dailySchedulerId,
} from '@fleet-backup/core';
import type { HostRow } from '@fleet-backup/db';
import { reconcileHostSchedulers, removeHostScheduler, type SchedulerChanges } from './host-schedulers.ts';
import type { Runtime } from './runtime.ts';

/** A host's daily: its own time and window if its config sets them, else the installation's. */
export function hostDailySchedule(host: HostRow, config: Config): DailySchedule {
  return dailySchedule(host.id, {
    at: host.dailyAt ?? config.dailyAt,
    jitterMinutes: host.dailyJitterMinutes ?? config.dailyJitterMinutes,
    timeZone: host.timeZone ?? 'UTC',
  });
}

/** Makes the `daily.<host>` schedulers on the pool queue match the hosts table. */
export function reconcileDailySchedulers(rt: Runtime): Promise<SchedulerChanges> {
  return reconcileHostSchedulers(rt, {
    job: 'daily',
    prefix: DAILY_SCHEDULER_PREFIX,
    scheduleOf: (host) => hostDailySchedule(host, rt.config),
  });
}

/** Removes a host's daily scheduler at once (deregistration), rather than at the next sweep. */
export function removeDailyScheduler(rt: Runtime, host: string): Promise<boolean> {
  return removeHostScheduler(rt, dailySchedulerId(host));
}
