import os from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { type ConfigFile, diffConfig, docOf, parseConfigDoc, withConfigDoc } from '@fleet-backup/config';
import type { ConfigOrigin, ConfigVersion } from '@fleet-backup/db';
import { configuredHosts } from './host-registration.ts';
import type { Runtime } from './runtime.ts';

/** The document a stored version holds, checked again: a version written by a newer release may not parse. */
export function versionDoc(v: ConfigVersion): ConfigFile {
  return parseConfigDoc(v.doc, `configuration version ${v.version}`);
}

/**
 * Takes the catalog's newest configuration version when it is not the one this process runs on:
 * one index probe when nothing changed, so roles call it before every job and planners before
 * every plan. The process's own settings (URLs, ports, keys, BACKUP_ROOT) stay; the environment's
 * overrides of fleet-wide settings do not (they count where a file is applied: fleetDoc). Resolves to whether it changed; a runtime not reading the catalog never does.
 */
export async function refreshConfig(rt: Runtime): Promise<boolean> {
  if (!rt.catalog) return false;
  const newest = await rt.configs.currentVersion();
  if (newest === null || newest === rt.configVersion) return false;
  const current = await rt.configs.current();
  if (!current) return false;
  const was = rt.configVersion;
  rt.useConfig(withConfigDoc(rt.config, versionDoc(current)), current.version);
  // A change under a running process is news; the first read (every CLI command's) is not.
  const line = { configVersion: current.version, was };
  if (was === null) rt.log.debug(line, 'configuration version in use');
  else rt.log.info(line, 'configuration version changed: in use from the next job');
  return true;
}

/** Who applies a version from this process: the user and machine, as `config history` shows them. */
export function applier(role: string): string {
  return `${role}:${os.userInfo().username}@${os.hostname()}`;
}

export interface AppliedConfig {
  /** The version now current (the new one, or the unchanged newest). */
  version: number;
  created: boolean;
  /** What changed against the version before, one line each (diffConfig). */
  changes: string[];
}

/**
 * Stores `doc` as the next configuration version unless it equals the newest, and in the same
 * transaction registers its hosts and deregisters those it no longer lists. `dryRun` only diffs.
 */
export async function applyConfig(
  rt: Runtime,
  doc: ConfigFile,
  by: { appliedBy: string; origin: ConfigOrigin; dryRun?: boolean },
): Promise<AppliedConfig> {
  const diff = (v: ConfigVersion | null) => diffConfig(v ? versionDoc(v) : null, doc);
  if (by.dryRun) {
    const current = await rt.configs.current();
    return { version: current?.version ?? 0, created: false, changes: diff(current) };
  }
  const hosts = configuredHosts(doc);
  const { version, created, previous } = await rt.configs.apply(doc, by, (tx) =>
    rt.hosts.syncConfigured(hosts, { prune: true, tx }).then(() => {}),
  );
  const changes = created ? diff(previous) : [];
  if (created)
    rt.log.info({ configVersion: version.version, origin: by.origin, changes }, 'configuration applied');
  await refreshConfig(rt);
  return { version: version.version, created, changes };
}

/**
 * A role's or command's first read of the catalog's configuration, right after opening its runtime,
 * then what it does with FLEET_BACKUP_CONFIG when it has one (`applyFile`: the producer and `start`).
 */
export async function startOnCatalog(rt: Runtime, opts: { applyFile: boolean }): Promise<void> {
  // What the process loaded from its file (and environment), before the catalog's version replaces it.
  const fileDoc = rt.config.configFile ? docOf(rt.config) : null;
  await refreshConfig(rt);
  if (fileDoc) await adoptConfigFile(rt, fileDoc, { apply: opts.applyFile });
}

/**
 * What a process started with FLEET_BACKUP_CONFIG does with its file: the producer (and `start`)
 * applies it when it differs from the newest version; any other role only warns that it runs on
 * the catalog's version, not on its file, or, with nothing applied yet, on its file alone.
 */
async function adoptConfigFile(rt: Runtime, file: ConfigFile, opts: { apply: boolean }): Promise<void> {
  if (opts.apply) {
    await applyConfig(rt, file, { appliedBy: applier('producer'), origin: 'file' });
    return;
  }
  const current = await rt.configs.current();
  if (!current) {
    // Nothing applied yet (a new installation, or a catalog lost: a bucket-only restore needs the file).
    rt.log.warn(
      { configFile: rt.config.configFile },
      "no configuration version in the catalog yet: this process runs on its FLEET_BACKUP_CONFIG; a producer started with the file, or `fleet-backup config apply FILE`, makes it the installation's",
    );
  } else if (!isDeepStrictEqual(versionDoc(current), file)) {
    rt.log.warn(
      { configFile: rt.config.configFile, configVersion: current.version },
      "FLEET_BACKUP_CONFIG differs from the catalog's configuration: this process runs on the catalog's version; a producer started with the file, or `fleet-backup config apply FILE`, makes it the installation's",
    );
  }
}
