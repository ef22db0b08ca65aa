import { type JobData, JobSchedulers, POOL_QUEUE, type SchedulerInfo } from '@fleet-backup/queue';
import type { Runtime } from '../runtime.ts';

/** Deterministic scheduler ids: producers restarting or running side by side upsert the same ones. */
export const LIFECYCLE_SCHEDULERS = {
  expire: 'lifecycle.expire',
  gc: 'lifecycle.gc',
  gcScan: 'lifecycle.gc-scan',
} as const;

/** What a lifecycle scheduler's jobs carry: the catalog job and its payload. */
type LifecycleJob = { name: 'expire'; data: JobData<'expire'> } | { name: 'gc'; data: JobData<'gc'> };

/**
 * Keeps the producer's lifecycle job schedulers as configured: expire daily, gc daily and gc with
 * a bucket scan weekly (by default). A schedule set to null removes its scheduler. The producer
 * runs this on every sweep, so a scheduler lost with Redis (a FLUSHALL, a Redis without
 * persistence restarting) is back within a sweep, not at the next producer restart. An unchanged
 * scheduler is left alone, so its pending job is not replaced every sweep. Returns the ids it
 * added or changed.
 */
export async function reconcileLifecycleSchedulers(rt: Runtime): Promise<string[]> {
  const schedulers = new JobSchedulers(rt.queues);
  const cfg = rt.config.lifecycle;
  const tz = cfg.scheduleTimeZone;
  const wanted: { id: string; pattern: string | null; job: LifecycleJob }[] = [
    { id: LIFECYCLE_SCHEDULERS.expire, pattern: cfg.expireSchedule, job: { name: 'expire', data: {} } },
    { id: LIFECYCLE_SCHEDULERS.gc, pattern: cfg.gcSchedule, job: { name: 'gc', data: { scan: false } } },
    {
      id: LIFECYCLE_SCHEDULERS.gcScan,
      pattern: cfg.gcScanSchedule,
      job: { name: 'gc', data: { scan: true } },
    },
  ];
  const existing = new Map((await schedulers.list(POOL_QUEUE, 'lifecycle.')).map((s) => [s.id, s] as const));
  const changed: string[] = [];
  for (const w of wanted) {
    const current = existing.get(w.id);
    if (!w.pattern) {
      if (current) await schedulers.remove(POOL_QUEUE, w.id);
      continue;
    }
    if (current && sameSchedule(current, w.pattern, tz, w.job)) continue;
    if (w.job.name === 'expire')
      await schedulers.upsert(w.id, { pattern: w.pattern, tz }, 'expire', w.job.data);
    else await schedulers.upsert(w.id, { pattern: w.pattern, tz }, 'gc', w.job.data);
    changed.push(w.id);
  }
  if (changed.length) rt.log.info({ schedulers: changed }, 'lifecycle schedulers reconciled');
  return changed;
}

function sameSchedule(current: SchedulerInfo, pattern: string, tz: string, job: LifecycleJob): boolean {
  return (
    current.name === job.name &&
    current.pattern === pattern &&
    current.tz === tz &&
    JSON.stringify(current.data) === JSON.stringify(job.data)
  );
}
