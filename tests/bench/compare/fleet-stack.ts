// fleet-backup as a user runs it on one machine: the targets of `fleet-backup start`'s embedded
// defaults (a second disk, the S3 and GCS stand-ins), with producer, pool worker and agent each
// in its own process, so the agent's peak RSS is its own. Its own database and queue prefix.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { S3_EMULATOR_CREDENTIALS, startGcsEmulator, startS3Emulator } from '@fleet-backup/emulators';
import { type Isolated, isolate, type ServiceUrls } from '@fleet-backup/testkit';
import { launchEnv, NODE_FLAGS } from '../launch.ts';
import { track } from './cleanup.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const SOURCES_BIN = here('../../../services/launcher/bin/fleet-backup.js');
const BUNDLE = here('../../../services/launcher/dist/fleet-backup.js');
// BENCH_PROFILE_DIR=DIR: each role also runs under `node --cpu-prof` at log level debug, and its
// profile and log are left there. BENCH_LOG_DIR=DIR: only the debug logs (each stage's peak RSS),
// without a profiler's own memory and time.
const DEBUG_LOGS = process.env.BENCH_PROFILE_DIR ?? process.env.BENCH_LOG_DIR;
const PROFILE_FLAGS = process.env.BENCH_PROFILE_DIR
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
  : [];
const BUCKET = 'fleet-backup-standin';

export interface CliOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One of the stack's targets, with where its stand-in keeps the objects on this machine's disk. */
export interface StandinTarget {
  /** The target's name in the config (`restore --from NAME`). */
  name: string;
  kind: 'fs' | 's3' | 'gcs';
  /** fs: the target's root; s3: s3rver's directory; gcs: the GCS emulator's directory. */
  dir: string;
  /** s3 and gcs: the bucket and the key prefix the target writes under. */
  bucket: string;
  prefix: string;
  /** s3 and gcs: the emulator's endpoint, for a bare SDK client. */
  endpoint?: string;
}

export interface FleetStack {
  iso: Isolated;
  backupRoot: string;
  agent: ChildProcess;
  producer: ChildProcess;
  worker: ChildProcess;
  /** The second disk, S3 and GCS targets (none with `localOnly`). */
  standins: StandinTarget[];
  cli(args: string[]): Promise<CliOutput>;
  /** One row from the stack's database. */
  row<T>(sql: string, params: unknown[]): Promise<T | undefined>;
  stop(): Promise<void>;
}

export async function startFleetStack(
  services: ServiceUrls,
  host: string,
  opts: { bundle: boolean; localOnly: boolean },
): Promise<FleetStack> {
  const iso = await isolate(services, 'bench-compare');
  const second = path.join(iso.dir, 'second-copy');
  await mkdir(second, { recursive: true });
  const s3Dir = path.join(iso.dir, 's3rver');
  const gcsDir = path.join(iso.dir, 'gcs-emulator');
  const s3 = await startS3Emulator({ dir: s3Dir, buckets: [BUCKET] });
  const gcs = await startGcsEmulator({ dir: gcsDir });
  await gcs.createBucket(BUCKET);
  const config = path.join(iso.dir, 'config.json');
  const secretFile = path.join(iso.dir, 's3-standin.secret');
  await writeFile(secretFile, S3_EMULATOR_CREDENTIALS.secretAccessKey, { mode: 0o600 });
  // The same targets `embeddedConfig` (services/launcher/src/defaults.ts) configures.
  await writeFile(
    config,
    JSON.stringify({
      hosts: {},
      targets: opts.localOnly
        ? []
        : [
            { name: 'second', url: `file://${second}`, options: {} },
            {
              name: 's3-standin',
              url: `s3://${BUCKET}/fleet?endpoint=${s3.endpoint}&forcePathStyle=true&checksums=none`,
              offsite: false,
              encryption: 'aes-256-gcm',
              options: {
                credentials: {
                  accessKeyId: S3_EMULATOR_CREDENTIALS.accessKeyId,
                  secretAccessKey: { file: secretFile },
                },
              },
            },
            {
              name: 'gcs-standin',
              url: `gs://${BUCKET}/fleet?endpoint=${gcs.endpoint}`,
              offsite: false,
              encryption: 'aes-256-gcm',
              options: {},
            },
          ],
    }),
  );
  const backupRoot = path.join(iso.dir, 'backup');
  const env = {
    ...launchEnv(),
    REDIS_URL: iso.redisUrl,
    DATABASE_URL: iso.databaseUrl,
    QUEUE_PREFIX: iso.queuePrefix,
    BACKUP_ROOT: backupRoot,
    FLEET_BACKUP_CONFIG: config,
    DATA_DIR: path.join(iso.dir, 'var'),
    PORT: '0',
    BOARD_ADMIN_PASSWORD: 'bench-board-admin-password',
    LOG_LEVEL: DEBUG_LOGS ? 'debug' : 'info',
    // The stand-ins are sealed, as start's are: every role needs the key.
    ENCRYPTION_KEY: `bench:${randomBytes(32).toString('base64')}`,
  };
  const entry = opts.bundle ? BUNDLE : SOURCES_BIN;
  const logs = DEBUG_LOGS ?? path.join(iso.dir, 'logs');
  await mkdir(logs, { recursive: true });
  const roles: ChildProcess[] = [];
  const role = async (args: string[], ready: string) => {
    const log = path.join(logs, `${args[0]}.log`);
    const fd = openSync(log, 'a');
    const p = spawn(process.execPath, [...NODE_FLAGS, ...PROFILE_FLAGS, entry, ...args], {
      env,
      stdio: ['ignore', fd, fd],
    });
    roles.push(p);
    const deadline = Date.now() + 60_000;
    while (!(await readFile(log, 'utf8')).includes(ready)) {
      if (p.exitCode !== null || Date.now() > deadline)
        throw new Error(
          `fleet-backup ${args.join(' ')} did not start:\n${(await readFile(log, 'utf8')).slice(-2000)}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    return p;
  };
  const stop = track(async () => {
    for (const p of roles) p.kill('SIGTERM');
    await Promise.all(
      roles.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
            p.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    await Promise.all([s3.stop(), gcs.stop().catch(() => {})]);
    await iso.cleanup();
  });
  try {
    // Side by side: each role migrates under an advisory lock, and nothing else orders them.
    const [producer, worker, agent] = await Promise.all([
      role(['producer'], 'producer listening'),
      role(['worker'], '"msg":"worker ready"'),
      role(['agent', '--host', host], '"msg":"agent ready"'),
    ]);
    return {
      iso,
      backupRoot,
      agent,
      producer,
      worker,
      standins: opts.localOnly
        ? []
        : [
            { name: 'second', kind: 'fs', dir: second, bucket: '', prefix: '' },
            {
              name: 's3-standin',
              kind: 's3',
              dir: s3Dir,
              bucket: BUCKET,
              prefix: 'fleet',
              endpoint: s3.endpoint,
            },
            {
              name: 'gcs-standin',
              kind: 'gcs',
              dir: gcsDir,
              bucket: BUCKET,
              prefix: 'fleet',
              endpoint: gcs.endpoint,
            },
          ],
      cli: (args) =>
        new Promise((resolve, reject) => {
          const p = spawn(process.execPath, [...PROFILE_FLAGS, entry, ...args], {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          p.stdout.on('data', (d) => (stdout += d));
          p.stderr.on('data', (d) => (stderr += d));
          p.on('error', reject);
          p.on('close', (code) => resolve({ code, stdout, stderr }));
        }),
      async row<T>(sql: string, params: unknown[]) {
        return (await iso.pool.query(sql, params)).rows[0] as T | undefined;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** VmHWM, the process's peak resident set so far, in bytes (null once it has exited). */
export async function peakRss(p: ChildProcess): Promise<number | null> {
  const status = await readFile(`/proc/${p.pid}/status`, 'utf8').catch(() => null);
  const kb = status && /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : null;
}
