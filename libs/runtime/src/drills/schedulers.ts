import type { Config } from '@fleet-backup/config';
import type { HostRow } from '@fleet-backup/db';
import { reconcileHostSchedulers, removeHostScheduler, type SchedulerChanges } from '../host-schedulers.ts';
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

/** Makes the `drill.<host>` schedulers on the pool queue match the hosts table: one per backed-up host. */
export function reconcileDrillSchedulers(rt: Runtime): Promise<SchedulerChanges> {
  return reconcileHostSchedulers(rt, {
    job: 'drill',
    prefix: DRILL_SCHEDULER_PREFIX,
    scheduleOf: (host) => hostDrillSchedule(host, rt.config),
  });
}

/** Removes a host's drill scheduler at once (deregistration), rather than at the next sweep. */
export function removeDrillScheduler(rt: Runtime, host: string): Promise<boolean> {
  return removeHostScheduler(rt, drillSchedulerId(host));
}
