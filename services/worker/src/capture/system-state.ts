import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { allowedRoots, captureEnvironment, type FoundFile, GENERATED } from '@fleet-backup/capture';
import type { HostConfig } from '@fleet-backup/config';
import { isInside, PermanentFailure } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import type { JobContext } from '@fleet-backup/queue';
import type { AgentEnv } from '../agent-env.ts';
import { buildDependencies, type DependenciesSummary } from './dependencies.ts';
import { createStaging } from './staging.ts';

export { STAGING_DIR, sweepStaging } from './staging.ts';

/**
 * Which backups capture system state: those that take all of the host's configured sources
 * (every daily, and any backup requesting those sources or a path above them), when the host
 * configures `environment` or `dependencies`. A backup of a few chosen files does not: it is
 * about those files.
 */
export function capturesSystemState(paths: string[], hostConfig: HostConfig): boolean {
  if (!hostConfig.environment && !hostConfig.dependencies) return false;
  const { sources } = hostConfig;
  return sources.length > 0 && sources.every((s) => paths.some((p) => isInside(s.path, p)));
}

export interface SystemStateCapture {
  /** To snapshot like any found file; `sensitive` on the secret environment item. */
  files: FoundFile[];
  /** Removes the staging directory; call once the files are copied, whatever happened. */
  remove(): Promise<void>;
}

/**
 * Writes the host's generated items into the backup's staging directory. Values are never logged:
 * the log line counts variables, manifests and commands, and names a failed command only by name.
 */
export async function captureSystemState(
  env: AgentEnv,
  backup: BackupRow,
  found: readonly FoundFile[],
  ctx: Pick<JobContext, 'signal' | 'log'>,
): Promise<SystemStateCapture> {
  const { hostConfig } = env;
  if (!capturesSystemState(backup.request.paths, hostConfig)) return { files: [], remove: async () => {} };
  refuseClash(env.host, found);
  // This capture's own directory, named for its owner: no other agent sweeps it while we live.
  const dir = await createStaging(env.backupRoot, backup.key);
  // The (empty) parent stays: removing it could race another backup's mkdir beneath it.
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const files: FoundFile[] = [];
    let environment: { names: string[]; secretNames: string[] } | null = null;
    if (hostConfig.environment) {
      const captured = captureEnvironment(
        process.env,
        hostConfig.environment.allow,
        env.rt.config.secretPatterns,
      );
      files.push(await stage(dir, GENERATED.environment, captured.plain, false));
      if (captured.secret !== null) {
        // Without a key the snapshot skips a sensitive item unread (libs/capture/src/take-or-skip.ts),
        // so its values are not even staged: were it read anyway, the copy would find no file, never
        // plaintext.
        const body = env.rt.config.encryption.currentId === null ? null : captured.secret;
        files.push(await stage(dir, GENERATED.environmentSecrets, body, true));
      }
      environment = captured;
    }
    let dependencies: DependenciesSummary | null = null;
    if (hostConfig.dependencies) {
      const readFrom = path.join(dir, path.basename(GENERATED.dependencies));
      const limits = { allowedRoots: allowedRoots(hostConfig), backupRoot: env.backupRoot };
      dependencies = await buildDependencies(hostConfig.dependencies, limits, dir, readFrom, ctx.signal);
      files.push(staged(GENERATED.dependencies, readFrom, false));
    }
    logCapture(ctx.log, environment, dependencies);
    return { files, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

function refuseClash(host: string, found: readonly FoundFile[]): void {
  const generated = new Set<string>(Object.values(GENERATED));
  const clash = found.find((f) => generated.has(f.path));
  if (clash) {
    throw new PermanentFailure(
      `${clash.path} on host ${host} would be stored where the generated ${path.basename(clash.path)} goes; exclude it from the host's sources, or drop hosts.${host}.environment / dependencies`,
      { path: clash.path },
    );
  }
}

async function stage(
  dir: string,
  logical: string,
  body: string | null,
  sensitive: boolean,
): Promise<FoundFile> {
  const readFrom = path.join(dir, path.basename(logical));
  if (body !== null) await writeFile(readFrom, body, { mode: 0o600, flag: 'wx' });
  return staged(logical, readFrom, sensitive);
}

function staged(logical: string, readFrom: string, sensitive: boolean): FoundFile {
  return {
    path: logical,
    pathBytes: null,
    from: { kind: 'staged', path: readFrom },
    size: 0,
    config: true,
    ...(sensitive && { sensitive: true }),
  };
}

function logCapture(
  log: JobContext['log'],
  environment: { names: string[]; secretNames: string[] } | null,
  dependencies: DependenciesSummary | null,
): void {
  for (const c of dependencies?.commands ?? []) {
    if (c.exitCode === 0 && !c.error && !c.timedOut && !c.truncated) continue;
    const { name, exitCode, signal, error, timedOut, truncated } = c;
    log.warn(
      { command: name, exitCode, signal, error, timedOut, truncated },
      'dependency command did not finish cleanly; recorded in dependencies.config',
    );
  }
  log.info(
    {
      variables: environment?.names.length ?? 0,
      secretVariables: environment?.secretNames.length ?? 0,
      manifests: dependencies?.manifests.length ?? 0,
      manifestProblems: dependencies?.problems.length ?? 0,
      commands: dependencies?.commands.length ?? 0,
    },
    'system state captured',
  );
}
