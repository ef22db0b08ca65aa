import { assertCleanAbsolutePath, hostIdSchema } from '@fleet-backup/core';
import { z } from 'zod';

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
});

export const hostSchema = z.strictObject({
  sources: z.array(sourceSchema).default([]),
  /**
   * Where this host's agent may read at all; a requested path outside every root is refused.
   * Defaults to the sources' paths when sources are set, else the whole filesystem.
   */
  roots: z.array(absolutePath).optional(),
  labels: z.record(z.string(), z.string()).default({}),
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
});

export type SourceConfig = z.infer<typeof sourceSchema>;
export type HostConfig = z.infer<typeof hostSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type ConfigFile = z.infer<typeof configFileSchema>;
