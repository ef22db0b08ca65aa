import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Config, type ConfigFile, configFileSchema, fleetDoc, loadKeyring } from '@fleet-backup/config';
import { S3_EMULATOR_CREDENTIALS, startGcsEmulator, startS3Emulator } from '@fleet-backup/emulators';
import { shellWord } from './shell-word.ts';

const STANDIN_BUCKET = 'fleet-backup-standin';

/**
 * `start` on a fresh machine, with no config file: this process's settings for a workstation.
 * Backups go to DATA_DIR/backup (unless BACKUP_ROOT says otherwise), and a demo key encrypts the
 * sample's secret. Dev mode: announced loudly.
 */
export async function embeddedSettings(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EmbeddedSettings> {
  const out: Config = { ...config, devMode: config.devMode || !config.configFile };
  if (!env.BACKUP_ROOT) out.backupRoot = path.join(config.dataDir, 'backup');
  if (config.configFile) return { config: out, notices: [] };
  const key = await demoKey(config, env);
  // Retired keys (ENCRYPTION_OLD_KEYS) still restore what they encrypted.
  if (key) out.encryption = loadKeyring({ ...env, ENCRYPTION_KEY: undefined, ENCRYPTION_KEY_FILE: key });
  const notices = key
    ? [
        `!! sensitive files (the sample's app/.env), and every object on the stand-ins, are encrypted with a DEMO key kept in ${key}:`,
        `!!   other processes need ENCRYPTION_KEY_FILE=${shellWord(key)} to restore them; set your own ENCRYPTION_KEY for real use`,
      ]
    : [];
  return { config: out, notices };
}

export interface EmbeddedSettings {
  config: Config;
  /** Lines to print at start, loud about what is not real. */
  notices: string[];
}

export interface EmbeddedConfig {
  /** The configuration document `start` applies as a version like any other. */
  doc: ConfigFile;
  notices: string[];
  close(): Promise<void>;
}

/**
 * The embedded configuration: back up a sample folder under DATA_DIR, with a second copy in
 * DATA_DIR/second-copy and replicas on a local S3 emulator (s3rver) and GCS emulator, so the whole
 * fan-out runs out of the box. The emulators are local stand-ins, not offsite: flagged
 * offsite=false, so 3-2-1 honestly reports that nothing is offsite. They listen on the ports the
 * previous embedded version named when free, so a restart applies no new version.
 */
export async function embeddedConfig(config: Config, previous: ConfigFile | null): Promise<EmbeddedConfig> {
  const sample = path.join(config.dataDir, 'sample');
  await writeSample(sample);
  const second = path.join(config.dataDir, 'second-copy');
  await mkdir(second, { recursive: true });
  const s3 = await startS3Emulator({
    dir: path.join(config.dataDir, 's3rver'),
    buckets: [STANDIN_BUCKET],
    port: previousPort(previous, 's3-standin'),
  }).catch(() => startS3Emulator({ dir: path.join(config.dataDir, 's3rver'), buckets: [STANDIN_BUCKET] }));
  const gcsDir = path.join(config.dataDir, 'gcs-emulator');
  const gcs = await startGcsEmulator({ dir: gcsDir, port: previousPort(previous, 'gcs-standin') }).catch(() =>
    startGcsEmulator({ dir: gcsDir }),
  );
  await gcs.createBucket(STANDIN_BUCKET);
  // The environment's overrides (DAILY_AT…) go into the version, as a producer's file's do.
  const doc = fleetDoc(
    configFileSchema.parse({
      hosts: { [config.host]: { sources: [{ path: sample }], labels: { embedded: 'true' } } },
      targets: [
        { name: 'second', url: `file://${second}` },
        {
          name: 's3-standin',
          url: `s3://${STANDIN_BUCKET}/fleet?endpoint=${s3.endpoint}&forcePathStyle=true&checksums=none`,
          offsite: false,
          // Sealed like a real offsite target, with the demo key (or ENCRYPTION_KEY).
          encryption: 'aes-256-gcm',
          // s3rver's fixed key pair, by reference like any secret: the catalog holds no secret.
          options: {
            credentials: {
              accessKeyId: S3_EMULATOR_CREDENTIALS.accessKeyId,
              secretAccessKey: { file: await standinSecret(config) },
            },
          },
        },
        {
          name: 'gcs-standin',
          url: `gs://${STANDIN_BUCKET}/fleet?endpoint=${gcs.endpoint}`,
          offsite: false,
          encryption: 'aes-256-gcm',
        },
      ],
    }),
  );
  return {
    doc,
    notices: [
      `!! s3-standin  (${s3.endpoint}) is a LOCAL STAND-IN, NOT OFFSITE: an s3rver emulator in this process`,
      `!! gcs-standin (${gcs.endpoint}) is a LOCAL STAND-IN, NOT OFFSITE: a GCS emulator in this process`,
      '!! Configure real offsite targets (fleet-backup config apply FILE) before trusting these backups.',
    ],
    async close() {
      await Promise.all([s3.stop(), gcs.stop()]);
    },
  };
}

/** The port a stand-in of the previous embedded version listened on; 0 (any free one) when none. */
function previousPort(previous: ConfigFile | null, name: string): number {
  const url = previous?.targets.find((t) => t.name === name)?.url;
  const endpoint = url ? new URL(url).searchParams.get('endpoint') : null;
  return endpoint ? Number(new URL(endpoint).port) || 0 : 0;
}

/** s3rver's secret key, in a file beside the data (owner-only) that the configuration names. */
async function standinSecret(config: Config): Promise<string> {
  const file = path.join(config.dataDir, 's3-standin.secret');
  await writeFile(file, `${S3_EMULATOR_CREDENTIALS.secretAccessKey}\n`, { mode: 0o600 });
  return file;
}

/**
 * The sample holds a secret (app/.env), which without a key is skipped with a warning on the very
 * first run. So unless a key is configured, `start` makes a demo key once, readable by its owner
 * only, and keeps it beside the data so the backups it encrypted stay restorable after a restart.
 */
async function demoKey(config: Config, env: NodeJS.ProcessEnv): Promise<string | null> {
  if (config.encryption.currentId !== null || env.ENCRYPTION_KEY || env.ENCRYPTION_KEY_FILE) return null;
  const file = path.join(config.dataDir, 'demo-encryption.key');
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `demo:${randomBytes(32).toString('base64')}\n`, { flag: 'wx', mode: 0o600 }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    },
  );
  return file;
}

async function writeSample(dir: string): Promise<void> {
  const marker = path.join(dir, 'README.txt');
  if (
    await access(marker).then(
      () => true,
      () => false,
    )
  )
    return;
  await mkdir(path.join(dir, 'app', 'data'), { recursive: true });
  await mkdir(path.join(dir, 'etc'), { recursive: true });
  await writeFile(marker, 'Sample files backed up by `npm start`. Edit or add files, then restart.\n');
  await writeFile(path.join(dir, 'etc', 'app.yaml'), 'listen: 8080\nworkers: 4\n');
  await writeFile(path.join(dir, 'app', '.env'), 'APP_MODE=demo\n');
  await writeFile(path.join(dir, 'app', 'data', 'records.bin'), Buffer.alloc(64 * 1024, 7));
}
