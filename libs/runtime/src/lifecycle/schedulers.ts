import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import type { Runtime } from '../runtime.ts';

/** Deterministic scheduler ids: producers restarting or running side by side upsert the same ones. */
export const LIFECYCLE_SCHEDULERS = {
  expire: 'lifecycle.expire',
  gc: 'lifecycle.gc',
  gcScan: 'lifecycle.gc-scan',
} as const;

/**
 * Keeps the producer's lifecycle job schedulers as configured: expire daily, gc daily and gc with
 * a bucket scan weekly (by default). A schedule set to null removes its scheduler.
 */
export async function reconcileLifecycleSchedulers(rt: Runtime): Promise<void> {
  const schedulers = new JobSchedulers(rt.queues);
  const cfg = rt.config.lifecycle;
  const tz = cfg.scheduleTimeZone;
  const wanted = [
    {
      id: LIFECYCLE_SCHEDULERS.expire,
      pattern: cfg.expireSchedule,
      upsert: (p: string) => schedulers.upsert(LIFECYCLE_SCHEDULERS.expire, { pattern: p, tz }, 'expire', {}),
    },
    {
      id: LIFECYCLE_SCHEDULERS.gc,
      pattern: cfg.gcSchedule,
      upsert: (p: string) =>
        schedulers.upsert(LIFECYCLE_SCHEDULERS.gc, { pattern: p, tz }, 'gc', { scan: false }),
    },
    {
      id: LIFECYCLE_SCHEDULERS.gcScan,
      pattern: cfg.gcScanSchedule,
      upsert: (p: string) =>
        schedulers.upsert(LIFECYCLE_SCHEDULERS.gcScan, { pattern: p, tz }, 'gc', { scan: true }),
    },
  ];
  for (const w of wanted) {
    if (w.pattern) await w.upsert(w.pattern);
    else await schedulers.remove(POOL_QUEUE, w.id);
  }
}
