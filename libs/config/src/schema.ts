import { DEFAULT_SECRET_PATTERNS, hostIdSchema, isTimeZone, TIME_OF_DAY } from '@fleet-backup/core';
import { z } from 'zod';
import { cronPattern, lifecycleSchema } from './lifecycle.ts';
import { refuseClearSecrets } from './secret-refs.ts';
import { cleanAbsolute, dependenciesSchema, environmentSchema } from './system-state.ts';

export const sourceSchema = z.strictObject({
  path: cleanAbsolute(),
  /** Every file under a configuration source is classified as configuration. */
  config: z.boolean().default(false),
  /**
   * Globs taken even when a default exclusion rule (libs/core/src/exclusions.ts) matches; a
   * glob with a `/` that does not start with one is relative to `path`.
   */
  include: z.array(z.string().min(1)).optional(),
  /** Globs never taken, whatever else matches. */
  exclude: z.array(z.string().min(1)).optional(),
  /**
   * Globs that must each match a stored file (e.g. the app's `.db` and its main config),
   * relative to `path` or absolute; a backup of the source missing one ends `incomplete`.
   */
  required: z
    .array(
      z
        .string()
        .min(1)
        .refine((g) => !g.split('/').includes('..'), 'a required glob may not contain ".."'),
    )
    .optional(),
  /**
   * Globs of files holding secrets, on top of the defaults (libs/core/src/secrets.ts): they are
   * encrypted on the agent, or skipped loudly when no encryption key is configured.
   */
  sensitive: z.array(z.string().min(1)).optional(),
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
  roots: z.array(cleanAbsolute()).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  /** IANA zone the daily's local time is in; default: the agent machine's zone. */
  timeZone: timeZoneSchema.optional(),
  /** This host's daily time and jitter window, instead of the installation's. */
  dailyAt: timeOfDaySchema.optional(),
  dailyJitterMinutes: jitterSchema.optional(),
  /**
   * System state captured as generated `environment.config` / `dependencies.config` by every
   * backup that takes all of the host's sources (its dailies included); absent: not captured.
   * See libs/config/src/system-state.ts.
   */
  environment: environmentSchema.optional(),
  dependencies: dependenciesSchema.optional(),
});

export const targetSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/)
    .refine((n) => n !== 'local', '"local" names the host\'s own copy'),
  url: z.string().min(1),
  offsite: z.boolean().optional(),
  /**
   * Every object sealed client-side (AES-256-GCM, README "Sealed targets"): the default for an
   * offsite target, which only `"none"`, said explicitly, turns off. Other targets: `"none"` unless
   * set.
   */
  encryption: z.enum(['aes-256-gcm', 'none']).optional(),
  /**
   * Adapter options (endpoint, part size, credentials…). A secret in them is a reference, never
   * the value: `{ "env": "NAME" }` or `{ "file": "/path" }` (secret-refs.ts). `agent` holds the
   * options agents use instead (their create-only credential: README, "Agents can only write").
   */
  options: z
    .record(z.string(), z.unknown())
    .superRefine(refuseClearSecrets)
    .superRefine((options, ctx) => {
      const agent = options.agent;
      if (agent !== undefined && (typeof agent !== 'object' || agent === null || Array.isArray(agent)))
        ctx.addIssue({
          code: 'custom',
          path: ['agent'],
          message: 'the agents\' options: an object, such as {"credentials": {…}}',
        });
    })
    .default({}),
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
  /**
   * A backup with this many percent fewer files or bytes than the host's previous backup of the
   * same paths is flagged as a sharp drop; `DROP_THRESHOLD_PERCENT` overrides.
   */
  dropThresholdPercent: z.number().int().min(0).max(100).default(50),
  /**
   * A backup in which more than this many percent of the previous backup's files (same paths)
   * changed or went is flagged as a mass change: ransomware encrypting files keeps their count and
   * sizes, which the drop check cannot see. `MASS_CHANGE_PERCENT` overrides.
   */
  massChangePercent: z.number().int().min(0).max(100).default(50),
  /**
   * Verified offsite copies a backup needs, besides its hashed local copy, to be `safe` (what a
   * pre-change caller waits for); 0: the local hash alone. `SAFE_OFFSITE_COPIES` overrides.
   */
  safeOffsiteCopies: z.number().int().min(0).max(16).default(1),
  /**
   * Name globs (case-insensitive) marking a variable's value as secret; `SECRET_PATTERNS`
   * (comma list) overrides.
   */
  secretPatterns: z
    .array(z.string().min(1))
    .min(1)
    .default([...DEFAULT_SECRET_PATTERNS]),
  /**
   * When each host's restore drill runs: a five-field cron pattern in the host's zone, shifted by
   * the host's stable jitter (its daily window) when minute and hour are plain numbers;
   * `DRILL_CRON` overrides. Default: Sundays at 04:00.
   */
  drillCron: cronPattern('0 4 * * 0').default('0 4 * * 0'),
  /** `report` lists hosts with no passing drill for this long; `DRILL_MAX_AGE_DAYS` overrides. */
  drillMaxAgeDays: z.number().int().min(1).max(3650).default(14),
  /** The copy drills restore from (a target name or kind); null: a verified offsite copy. */
  drillFrom: z.string().min(1).nullable().default(null),
  /**
   * Every stored copy (local ones included) is read back again within this many days, a slice
   * each day; `RECHECK_WINDOW_DAYS` overrides.
   */
  recheckWindowDays: z.number().int().min(1).max(3650).default(30),
  /**
   * When each day's slice is read: a five-field cron pattern (targets in UTC on the pool, local
   * copies in each host's zone, shifted by its jitter); `RECHECK_CRON` overrides.
   */
  recheckCron: cronPattern('0 5 * * *').default('0 5 * * *'),
  /** Expiry, blob gc and report settings (libs/config/src/lifecycle.ts). */
  lifecycle: lifecycleSchema.prefault({}),
});

export type SourceConfig = z.infer<typeof sourceSchema>;
export type HostConfig = z.infer<typeof hostSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type ConfigFile = z.infer<typeof configFileSchema>;
