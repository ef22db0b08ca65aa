import { isTimeZone } from '@fleet-backup/core';
import { z } from 'zod';

/** A five-field cron pattern; the error shows example as one. */
export const cronPattern = (example: string) =>
  z.string().regex(/^\S+( \S+){4}$/, `a schedule is a five-field cron pattern, e.g. "${example}"`);

/** A five-field cron pattern, or null to run that job on demand only. */
const cron = cronPattern('15 3 * * *').nullable();

/** Expiry, blob garbage collection and the report (`lifecycle` in the config file). */
export const lifecycleSchema = z.strictObject({
  /**
   * Days after its change is verified that an `until_verified` pre_change retires by itself.
   * Null (default): never; it shows in `report` as ready for cleanup and a person retires it.
   */
  autoRetireDays: z.number().int().min(0).max(36500).nullable().default(null),
  /** How long an unreferenced blob stays on a target before gc deletes it. */
  blobGraceHours: z
    .number()
    .min(0)
    .max(24 * 365)
    .default(24),
  /** `report` lists a backup for verification when a copy last verified longer ago than this. */
  reverifyAfterDays: z.number().int().min(1).max(3650).default(30),
  /** `report` lists backups that go within this many days. */
  expiringSoonDays: z.number().int().min(1).max(365).default(7),
  /** When the producer's job schedulers run expire, gc, and gc with a bucket scan. */
  expireSchedule: cron.default('15 3 * * *'),
  gcSchedule: cron.default('45 4 * * *'),
  gcScanSchedule: cron.default('30 5 * * 0'),
  scheduleTimeZone: z.string().refine(isTimeZone, 'not a known IANA time zone').default('UTC'),
});

export type LifecycleConfig = z.infer<typeof lifecycleSchema>;
