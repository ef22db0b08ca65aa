import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BadInputError,
  describeIssues,
  hostIdFromHostname,
  hostIdSchema,
  type Keyring,
} from '@fleet-backup/core';
import { parseConfigDoc } from './config-doc.ts';
import { loadKeyring } from './encryption.ts';
import { type ConfigFile, configFileSchema } from './schema.ts';

const dailyEnvSchema = configFileSchema.pick({
  dailyAt: true,
  dailyJitterMinutes: true,
  dailyOverdueHours: true,
  dailyRetentionDays: true,
});
const drillEnvSchema = configFileSchema.pick({ drillCron: true, drillMaxAgeDays: true });
const recheckEnvSchema = configFileSchema.pick({ recheckWindowDays: true, recheckCron: true });

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
  /** How often the producer reconciles Redis with Postgres and its job schedulers (RECONCILE_INTERVAL_MS). */
  reconcileIntervalMs: number;
  /** Jobs an agent runs at once (snapshot, hash, one replicate per target…). */
  agentConcurrency: number;
  /** Buffer growth that triggers a collection in data-plane processes (0 = V8's own timing). */
  gcSlackBytes: number;
  logLevel: string;
  /** LOG_FORMAT: `pretty` lines for people, `json` for collectors, `auto` (default): pretty on a terminal. */
  logFormat: LogFormat;
  /** Port of the /metrics, /healthz and /readyz server of a worker or agent (METRICS_PORT); null: none. */
  metricsPort: number | null;
  /** Address that server binds to (METRICS_BIND, default BIND_ADDRESS). */
  metricsBind: string;
  /** Bearer token /metrics requires (METRICS_TOKEN); null: open, as Prometheus scrapes by default. */
  metricsToken: string | null;
  /** Admin bearer token for the API and Bull Board; null = loopback clients only. */
  apiToken: string | null;
  /** Basic-auth password of Bull Board user `admin`, the full board (BOARD_ADMIN_PASSWORD). */
  boardAdminPassword: string | null;
  /** Basic-auth password of Bull Board user `viewer`, the read-only board (BOARD_VIEWER_PASSWORD). */
  boardViewerPassword: string | null;
  /** A workstation, never production (FLEET_BACKUP_DEV=1, or `start` on its embedded defaults). */
  devMode: boolean;
  /**
   * How long a target operation may keep failing transiently, retried with backoff inside the job,
   * before the job fails and BullMQ retries it (TARGET_RETRY_SECONDS).
   */
  targetRetryDeadlineMs: number;
  /** Blobs up to this size go offsite inside packs (PACK_BLOB_MAX_KB); larger ones are their own object. */
  packBlobMaxBytes: number;
  /** The size a pack is closed at (PACK_TARGET_MB). */
  packTargetBytes: number;
  /** A pack at most this fraction live is repacked by gc (REPACK_LIVE_PERCENT). */
  repackLiveFraction: number;
  /** Requests in flight per target for uploads, reads back and restores (TARGET_PARALLEL_REQUESTS). */
  targetParallelRequests: number;
  /** Parent of the drills' scratch directories (DRILL_SCRATCH_DIR; default DATA_DIR/drills). */
  drillScratchDir: string;
  /**
   * Keys for sensitive files (ENCRYPTION_KEY or ENCRYPTION_KEY_FILE, ENCRYPTION_OLD_KEYS;
   * libs/config/src/encryption.ts). Prints as its key ids only.
   */
  encryption: Keyring;
  /** Where the config file came from, if any. */
  configFile: string | null;
}

type Env = Record<string, string | undefined>;

/** What a process takes from its own environment: everything but the configuration document. */
export type ProcessSettings = Omit<Config, keyof ConfigFile>;

/**
 * Reads configuration from the environment and the optional FLEET_BACKUP_CONFIG file (with the
 * environment's overrides of fleet-wide settings: fleetDoc). Roles and commands then take the
 * document from the catalog's current version instead (withConfigDoc).
 */
export function loadConfig(env: Env = process.env): Config {
  const configFile = env.FLEET_BACKUP_CONFIG || null;
  const file = configFile ? readConfigDoc(configFile) : configFileSchema.parse({});
  const host = env.FLEET_BACKUP_HOST || hostIdFromHostname(os.hostname());
  const hostCheck = hostIdSchema.safeParse(host);
  if (!hostCheck.success) throw new BadInputError(`FLEET_BACKUP_HOST: ${describeIssues(hostCheck.error)}`);
  const dataDir = path.resolve(env.DATA_DIR || './var');
  const settings: ProcessSettings = {
    encryption: loadKeyring(env),
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    databaseUrl: env.DATABASE_URL || 'postgres://127.0.0.1:5432/fleet_backup',
    backupRoot: path.resolve(env.BACKUP_ROOT || '/backup'),
    port: intVar(env, 'PORT', 3000),
    bind: env.BIND_ADDRESS || '127.0.0.1',
    queuePrefix: env.QUEUE_PREFIX || 'fleet-backup',
    host,
    dataDir,
    drillScratchDir: path.resolve(env.DRILL_SCRATCH_DIR || path.join(dataDir, 'drills')),
    lockDurationMs: intVar(env, 'JOB_LOCK_MS', 30_000),
    reconcileIntervalMs: Math.max(1_000, intVar(env, 'RECONCILE_INTERVAL_MS', 60_000)),
    // One job at a time keeps an agent, which runs on the host it backs up, under 200 MB of RSS.
    agentConcurrency: Math.max(1, intVar(env, 'AGENT_CONCURRENCY', 1)),
    gcSlackBytes: intVar(env, 'GC_SLACK_MB', 24) * 1024 * 1024,
    logLevel: env.LOG_LEVEL || 'info',
    logFormat: logFormat(env),
    metricsPort: env.METRICS_PORT ? intVar(env, 'METRICS_PORT', 0) : null,
    metricsBind: env.METRICS_BIND || env.BIND_ADDRESS || '127.0.0.1',
    metricsToken: env.METRICS_TOKEN || null,
    apiToken: env.API_TOKEN || null,
    boardAdminPassword: env.BOARD_ADMIN_PASSWORD || null,
    boardViewerPassword: env.BOARD_VIEWER_PASSWORD || null,
    devMode: flagVar(env, 'FLEET_BACKUP_DEV'),
    targetRetryDeadlineMs: intVar(env, 'TARGET_RETRY_SECONDS', 30) * 1000,
    packBlobMaxBytes: Math.max(0, intVar(env, 'PACK_BLOB_MAX_KB', 512)) * 1024,
    // A replicate holds two pack Buffers: at 8 MiB the agent's O1 peak was 179 MB, at 16 192–199 MB
    // (issue 12's O5 limit is 200), and a pack is one S3 PUT (its part size) instead of four requests.
    packTargetBytes: Math.max(1, intVar(env, 'PACK_TARGET_MB', 8)) * 1024 * 1024,
    repackLiveFraction: Math.min(100, intVar(env, 'REPACK_LIVE_PERCENT', 50)) / 100,
    targetParallelRequests: Math.max(1, intVar(env, 'TARGET_PARALLEL_REQUESTS', 8)),
    configFile,
  };
  return withConfigDoc(settings, fleetDoc(file, env));
}

/** A process's configuration: its own settings and a document (a file's, or a catalog version). */
export function withConfigDoc(settings: ProcessSettings, doc: ConfigFile): Config {
  return { ...settings, ...doc };
}

/**
 * The document with the environment's overrides of its fleet-wide settings (DAILY_AT,
 * SAFE_OFFSITE_COPIES…) folded in: what the process that applies a file (the producer, `start`)
 * stores as the version. Every other process runs on the stored version, so one process's
 * environment never changes a setting for itself alone.
 */
export function fleetDoc(doc: ConfigFile, env: Env = process.env): ConfigFile {
  return {
    ...doc,
    ...dailyOverrides(env, doc),
    ...drillOverrides(env, doc),
    ...recheckOverrides(env, doc),
    secretPatterns: listVar(env, 'SECRET_PATTERNS') ?? doc.secretPatterns,
    dropThresholdPercent: percentVar(env, 'DROP_THRESHOLD_PERCENT', doc.dropThresholdPercent),
    massChangePercent: percentVar(env, 'MASS_CHANGE_PERCENT', doc.massChangePercent),
    safeOffsiteCopies: intVar(env, 'SAFE_OFFSITE_COPIES', doc.safeOffsiteCopies),
  };
}

/** The fields of a configuration that make its document, e.g. to store what a process loaded. */
export function docOf(config: Config): ConfigFile {
  return Object.fromEntries(configFileSchema.keyof().options.map((k) => [k, config[k]])) as ConfigFile;
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

/** The drill schedule and age limit from the environment, which win over the config file. */
function drillOverrides(env: Env, file: ConfigFile): Partial<ConfigFile> {
  const parsed = drillEnvSchema.safeParse({
    drillCron: env.DRILL_CRON || file.drillCron,
    drillMaxAgeDays: intVar(env, 'DRILL_MAX_AGE_DAYS', file.drillMaxAgeDays),
  });
  if (!parsed.success) throw new BadInputError(`drill settings: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The rolling re-read's window and time of day from the environment, which win over the config file. */
function recheckOverrides(env: Env, file: ConfigFile): Partial<ConfigFile> {
  const parsed = recheckEnvSchema.safeParse({
    recheckWindowDays: intVar(env, 'RECHECK_WINDOW_DAYS', file.recheckWindowDays),
    recheckCron: env.RECHECK_CRON || file.recheckCron,
  });
  if (!parsed.success) throw new BadInputError(`re-check settings: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** A percentage from the environment (0 to 100), else the document's. */
function percentVar(env: Env, name: string, fallback: number): number {
  const percent = intVar(env, name, fallback);
  if (percent > 100) throw new BadInputError(`${name} must be 0 to 100, got ${percent}`);
  return percent;
}

/** A configuration file (JSON), checked whole: parseConfigDoc's BadInputError names every problem. */
export function readConfigDoc(file: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new BadInputError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  return parseConfigDoc(raw, `config file ${file}`);
}

const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

function logFormat(env: Env): LogFormat {
  const raw = (env.LOG_FORMAT || 'auto').toLowerCase();
  const format = LOG_FORMATS.find((f) => f === raw);
  if (!format) throw new BadInputError(`LOG_FORMAT must be auto, json or pretty, got ${env.LOG_FORMAT}`);
  return format;
}

/** A yes/no variable: unset, empty, 0 or false is off; 1 or true is on; anything else is a mistake. */
function flagVar(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new BadInputError(`${name} must be 1 or 0 (true or false), got ${env[name]}`);
}

/** A comma list variable; undefined when unset or empty. */
function listVar(env: Env, name: string): string[] | undefined {
  const items = (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

function intVar(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw new BadInputError(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}
