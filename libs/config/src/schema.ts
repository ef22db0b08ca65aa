import { assertCleanAbsolutePath, hostIdSchema, isTimeZone, TIME_OF_DAY } from '@fleet-backup/core';
import { z } from 'zod';
import { lifecycleSchema } from './lifecycle.ts';

const absolutePath = z.string().superRefine((p, ctx) => {
  try {
    assertCleanAbsolutePath(p);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const sourceSchema = z.strictObject({
  path: absolutePath,
  /** Every file under a configuration source is classified as configuration. */
  config: z.boolean().default(false),
  /**
   * Globs taken even when a default exclusion rule (libs/core/src/exclusions.ts) matches; a
   * glob with a `/` that does not start with one is relative to `path`.
   */
  include: z.array(z.string().min(1)).optional(),
  /** Globs never taken, whatever else matches. */
  exclude: z.array(z.string().min(1)).optional(),
});

export const timeZoneSchema = z
  .string()
  .refine(isTimeZone, 'not a known IANA time zone (e.g. Europe/Berlin)');
export const timeOfDaySchema = z.string().regex(TIME_OF_DAY, 'a time of day is HH:MM, 24-hour');
/** Up to a day: the window a host's daily is spread over, from its daily time. */
export const jitterSchema = z.number().int().min(0).max(1440);

export const hostSchema = z.strictObject({
  sources: z.array(sourceSchema).default([]),
  /**
   * Where this host's agent may read at all; a requested path outside every root is refused.
   * Defaults to the sources' paths when sources are set, else the whole filesystem.
   */
  roots: z.array(absolutePath).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  /** IANA zone the daily's local time is in; default: the agent machine's zone. */
  timeZone: timeZoneSchema.optional(),
  /** This host's daily time and jitter window, instead of the installation's. */
  dailyAt: timeOfDaySchema.optional(),
  dailyJitterMinutes: jitterSchema.optional(),
});

export const targetSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/)
    .refine((n) => n !== 'local', '"local" names the host\'s own copy'),
  url: z.string().min(1),
  offsite: z.boolean().optional(),
  /** Adapter options (credentials, endpoint…); secrets here never reach logs. */
  options: z.record(z.string(), z.unknown()).default({}),
});

/** The optional config file (FLEET_BACKUP_CONFIG), JSON. */
export const configFileSchema = z.strictObject({
  hosts: z.record(hostIdSchema, hostSchema).default({}),
  targets: z.array(targetSchema).default([]),
  dailyRetentionDays: z.number().int().min(1).max(3650).default(30),
  /** Local time every host's daily starts at, in the host's zone; `DAILY_AT` overrides. */
  dailyAt: timeOfDaySchema.default('02:00'),
  /** Each host's daily runs a stable 0..N-1 minutes after dailyAt; `DAILY_JITTER_MINUTES` overrides. */
  dailyJitterMinutes: jitterSchema.default(60),
  /** A host with no verified daily for this long is overdue; `DAILY_OVERDUE_HOURS` overrides. */
  dailyOverdueHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 365)
    .default(26),
  /** Expiry, blob gc and report settings (libs/config/src/lifecycle.ts). */
  lifecycle: lifecycleSchema.prefault({}),
});

export type SourceConfig = z.infer<typeof sourceSchema>;
export type HostConfig = z.infer<typeof hostSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type ConfigFile = z.infer<typeof configFileSchema>;
