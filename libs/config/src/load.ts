import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BadInputError, describeIssues, hostIdFromHostname, hostIdSchema } from '@fleet-backup/core';
import { type ConfigFile, configFileSchema } from './schema.ts';

const dailyEnvSchema = configFileSchema.pick({
  dailyAt: true,
  dailyJitterMinutes: true,
  dailyOverdueHours: true,
  dailyRetentionDays: true,
});

export interface Config extends ConfigFile {
  redisUrl: string;
  databaseUrl: string;
  backupRoot: string;
  port: number;
  /** Address the HTTP server binds to. */
  bind: string;
  queuePrefix: string;
  /** The host this machine serves (`start`, and `agent` without --host). */
  host: string;
  dataDir: string;
  lockDurationMs: number;
  /** Jobs an agent runs at once (snapshot, hash, one replicate per target…). */
  agentConcurrency: number;
  /** Buffer growth that triggers a collection in data-plane processes (0 = V8's own timing). */
  gcSlackBytes: number;
  logLevel: string;
  /** Admin bearer token for the API and Bull Board; null = loopback clients only. */
  apiToken: string | null;
  /** Verified offsite copies a backup needs, besides its hashed local copy, to be `safe` (SAFE_OFFSITE_COPIES). */
  safeOffsiteCopies: number;
  /** Where the config file came from, if any. */
  configFile: string | null;
}

type Env = Record<string, string | undefined>;

/** Reads configuration from the environment and the optional FLEET_BACKUP_CONFIG file. */
export function loadConfig(env: Env = process.env): Config {
  const configFile = env.FLEET_BACKUP_CONFIG || null;
  const file = configFile ? readConfigFile(configFile) : configFileSchema.parse({});
  const host = env.FLEET_BACKUP_HOST || hostIdFromHostname(os.hostname());
  const hostCheck = hostIdSchema.safeParse(host);
  if (!hostCheck.success) throw new BadInputError(`FLEET_BACKUP_HOST: ${describeIssues(hostCheck.error)}`);
  const dataDir = path.resolve(env.DATA_DIR || './var');
  return {
    ...file,
    ...dailyOverrides(env, file),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    databaseUrl: env.DATABASE_URL || 'postgres://127.0.0.1:5432/fleet_backup',
    backupRoot: path.resolve(env.BACKUP_ROOT || '/backup'),
    port: intVar(env, 'PORT', 3000),
    bind: env.BIND_ADDRESS || '127.0.0.1',
    queuePrefix: env.QUEUE_PREFIX || 'fleet-backup',
    host,
    dataDir,
    lockDurationMs: intVar(env, 'JOB_LOCK_MS', 30_000),
    // One job at a time keeps an agent, which runs on the host it backs up, under 200 MB of RSS.
    agentConcurrency: Math.max(1, intVar(env, 'AGENT_CONCURRENCY', 1)),
    gcSlackBytes: intVar(env, 'GC_SLACK_MB', 24) * 1024 * 1024,
    logLevel: env.LOG_LEVEL || 'info',
    apiToken: env.API_TOKEN || null,
    safeOffsiteCopies: intVar(env, 'SAFE_OFFSITE_COPIES', 1),
    configFile,
  };
}

/** The fleet's daily settings from the environment, which win over the config file. */
function dailyOverrides(env: Env, file: ConfigFile): Partial<ConfigFile> {
  const parsed = dailyEnvSchema.safeParse({
    dailyAt: env.DAILY_AT || file.dailyAt,
    dailyJitterMinutes: intVar(env, 'DAILY_JITTER_MINUTES', file.dailyJitterMinutes),
    dailyOverdueHours: intVar(env, 'DAILY_OVERDUE_HOURS', file.dailyOverdueHours),
    dailyRetentionDays: intVar(env, 'DAILY_RETENTION_DAYS', file.dailyRetentionDays),
  });
  if (!parsed.success) throw new BadInputError(`daily settings: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function readConfigFile(file: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BadInputError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw new BadInputError(`config file ${file}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

function intVar(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new BadInputError(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}
