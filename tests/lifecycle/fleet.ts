import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { docOf, loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { ManualClock } from '@fleet-backup/core';
import { applyConfig, openRuntime, type Runtime, requestBackup } from '@fleet-backup/runtime';
import {
  FsTarget,
  indexPacks,
  listAll,
  type Manifest,
  manifestKey,
  NotFoundError,
  parseBlobKey,
  parseManifestKey,
  parsePackKey,
  readListedManifest,
} from '@fleet-backup/storage';
import { type Isolated, isolate, type ServiceUrls } from '@fleet-backup/testkit';
import { type Role, startAgent, startPoolWorker } from '@fleet-backup/worker';
import { waitFor } from '../support/cli.ts';

/**
 * A small fleet in one process, on a ManualClock: real agents (one backup root each), a pool
 * worker, Postgres, Redis and an fs target named `second`. Backups run the real pipeline; only
 * time is simulated, so expiry's deletions hit real directories and a real target.
 */
export interface Fleet {
  iso: Isolated;
  rt: Runtime;
  clock: ManualClock;
  hosts: string[];
  targetDir: string;
  configFile: string;
  /** The env a CLI child process needs to share this installation (system clock). */
  env: Record<string, string>;
  sourceDir(host: string): string;
  backupRoot(host: string): string;
  /** Requests a backup and waits until its pipeline ends; returns its id. */
  backup(request: Record<string, unknown>): Promise<string>;
  stopAgents(): Promise<void>;
  startAgents(): Promise<void>;
  close(): Promise<void>;
}

export async function createFleet(
  services: ServiceUrls,
  label: string,
  opts: { hosts: string[]; start: string; lifecycle?: Record<string, unknown> },
): Promise<Fleet> {
  const iso = await isolate(services, label);
  const targetDir = path.join(iso.dir, 'second');
  await mkdir(targetDir, { recursive: true });
  const hostsConfig: Record<string, unknown> = {};
  for (const h of opts.hosts) {
    await mkdir(path.join(iso.dir, 'src', h), { recursive: true });
    hostsConfig[h] = { sources: [{ path: path.join(iso.dir, 'src', h) }] };
  }
  const configFile = path.join(iso.dir, 'config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      hosts: hostsConfig,
      targets: [{ name: 'second', url: `file://${targetDir}` }],
      lifecycle: opts.lifecycle ?? {},
    }),
  );
  const env: Record<string, string> = {
    REDIS_URL: iso.redisUrl,
    DATABASE_URL: iso.databaseUrl,
    QUEUE_PREFIX: iso.queuePrefix,
    FLEET_BACKUP_CONFIG: configFile,
    BACKUP_ROOT: path.join(iso.dir, 'backup', 'cli'),
    LOG_LEVEL: 'warn',
    JOB_LOCK_MS: '4000',
  };
  const clock = new ManualClock(opts.start);
  const { log } = capturedLog(label);
  const rt = await openRuntime(loadConfig(env), { name: label, migrate: true, clock, log });
  // As a producer started with the file would: CLI commands then run on the catalog's version.
  await applyConfig(rt, docOf(rt.config), { appliedBy: `test:${label}`, origin: 'file' });
  let roles: Role[] = [];
  const fleet: Fleet = {
    iso,
    rt,
    clock,
    hosts: opts.hosts,
    targetDir,
    configFile,
    env,
    sourceDir: (h) => path.join(iso.dir, 'src', h),
    backupRoot: (h) => path.join(iso.dir, 'backup', h),
    async backup(request) {
      const { backup } = await requestBackup(rt, request);
      await waitFor(
        async () => {
          const r = await rt.pool.query('SELECT status FROM backups WHERE id = $1', [backup.id]);
          return r.rows[0]?.status !== 'running';
        },
        { timeoutMs: 30_000, intervalMs: 25, what: `backup ${backup.key} of ${request.host} to finish` },
      );
      return backup.id;
    },
    async startAgents() {
      roles = [await startPoolWorker(rt, 4)];
      for (const h of opts.hosts) roles.push(await startAgent(rt, h, fleet.backupRoot(h)));
    },
    async stopAgents() {
      for (const r of roles) await r.close();
      roles = [];
    },
    async close() {
      await fleet.stopAgents();
      await rt.close();
      await iso.cleanup();
    },
  };
  await fleet.startAgents();
  return fleet;
}

/** The fs target as the tests read it: independent of the code under test's bookkeeping. */
export function targetOf(fleet: Fleet): FsTarget {
  return new FsTarget({ name: 'second', root: fleet.targetDir });
}

/** sha256 of every blob on the target, from a listing: blobs of their own, and those in packs (their indexes). */
export async function blobsOnTarget(fleet: Fleet): Promise<Set<string>> {
  const out = new Set<string>((await indexPacks(targetOf(fleet))).keys());
  for await (const o of listAll(targetOf(fleet), 'blobs/')) {
    const sha = parseBlobKey(o.key);
    if (sha) out.add(sha);
  }
  return out;
}

/** sha256 of every pack on the target, from a listing. */
export async function packsOnTarget(fleet: Fleet): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of listAll(targetOf(fleet), 'packs/')) {
    const sha = parsePackKey(o.key);
    if (sha) out.add(sha);
  }
  return out;
}

export async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

export async function manifestOnTarget(fleet: Fleet, host: string, key: string): Promise<boolean> {
  return exists(path.join(fleet.targetDir, manifestKey(host, key)));
}

/** Keys of the backups a host's backup_metadata.json lists, per seed section. */
export async function metadataKeys(fleet: Fleet, host: string): Promise<string[]> {
  const doc = JSON.parse(await readFile(path.join(fleet.backupRoot(host), 'backup_metadata.json'), 'utf8'));
  return [
    ...Object.keys(doc.daily ?? {}),
    ...Object.keys(doc.pre_change ?? {}),
    ...Object.keys(doc.manual ?? {}),
  ].sort();
}

export interface Row {
  id: string;
  host: string;
  kind: string;
  key: string;
  status: string;
  lifecycle: string | null;
}

export async function rows(fleet: Fleet): Promise<Row[]> {
  const r = await fleet.iso.pool.query<Row>(
    'SELECT id, host, kind, key, status, lifecycle FROM backups ORDER BY host, created_at, key',
  );
  return r.rows;
}

/** Every live manifest's blobs must exist: the one bug that must never happen. */
export async function missingReferencedBlobs(fleet: Fleet): Promise<string[]> {
  const target = targetOf(fleet);
  const blobs = await blobsOnTarget(fleet);
  const missing: string[] = [];
  for await (const o of listAll(target, 'hosts/')) {
    const at = parseManifestKey(o.key);
    if (!at) continue;
    let manifest: Manifest;
    try {
      // With its listing segments: one missing while its manifest is there is a loss too.
      manifest = await readListedManifest(target, at.host, at.backupKey);
    } catch (err) {
      if (err instanceof NotFoundError) continue; // removed by a concurrent expire since the listing
      missing.push(`${o.key}: ${(err as Error).message}`);
      continue;
    }
    // A large file is stored as its chunks: each must be there.
    for (const f of Object.values(manifest.files))
      for (const sha of f.chunks ?? [f.sha256]) if (!blobs.has(sha)) missing.push(`${o.key}: ${sha}`);
  }
  return missing;
}
