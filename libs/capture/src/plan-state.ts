import { stat } from 'node:fs/promises';
import type { HostConfig } from '@fleet-backup/config';
import { metadataPath } from '@fleet-backup/core';
import { captureEnvironment } from './environment.ts';
import { GENERATED } from './generated.ts';
import { findManifests } from './manifests.ts';
import { allowedRoots } from './roots.ts';

/** The generated items a backup of the host's sources would add, for `plan`. */
export interface PlannedSystemState {
  /**
   * Variable names (never values) as the planning process sees its environment: the agent
   * captures its own, so run `plan` with the agent's environment to see exactly what it takes.
   */
  environment: {
    item: string;
    names: string[];
    size: number;
    /** Secret names go to this item, encrypted or skipped (never in the clear). */
    secretItem: string;
    /** The key the secret item would be encrypted with; null: it would be skipped. */
    secretEncryptedWith: string | null;
    secretNames: string[];
    secretSize: number;
  } | null;
  dependencies: {
    item: string;
    manifests: { path: string; size: number }[];
    /** Configured manifests that would be recorded as missing or refused, with why. */
    problems: { path: string; error: string }[];
    /** Not run by plan: their output size is known only when a backup runs them. */
    commands: {
      name: string;
      argv: string[];
      cwd: string | null;
      timeoutSeconds: number;
      maxOutputBytes: number;
    }[];
  } | null;
}

/** What captureSystemState would write, measured without running a command or writing a file. */
export async function planSystemState(
  hostConfig: HostConfig,
  backupRoot: string,
  secretPatterns: readonly string[],
  keyId: string | null,
): Promise<PlannedSystemState> {
  let environment: PlannedSystemState['environment'] = null;
  if (hostConfig.environment) {
    const c = captureEnvironment(process.env, hostConfig.environment.allow, secretPatterns);
    environment = {
      item: metadataPath(GENERATED.environment),
      names: c.names,
      size: Buffer.byteLength(c.plain),
      secretItem: metadataPath(GENERATED.environmentSecrets),
      secretEncryptedWith: keyId,
      secretNames: c.secretNames,
      secretSize: c.secret === null ? 0 : Buffer.byteLength(c.secret),
    };
  }
  let dependencies: PlannedSystemState['dependencies'] = null;
  if (hostConfig.dependencies) {
    const { manifests: patterns, commands } = hostConfig.dependencies;
    const found = await findManifests(patterns, { allowedRoots: allowedRoots(hostConfig), backupRoot });
    const manifests = [];
    for (const f of found.files) manifests.push({ path: f.path, size: (await stat(f.readFrom)).size });
    dependencies = {
      item: metadataPath(GENERATED.dependencies),
      manifests,
      problems: found.problems,
      commands: commands.map((c) => ({
        name: c.name,
        argv: c.argv,
        cwd: c.cwd ?? null,
        timeoutSeconds: c.timeoutSeconds,
        maxOutputBytes: c.maxOutputBytes,
      })),
    };
  }
  return { environment, dependencies };
}

/** Lines for the text plan: names and sizes, never a value. */
export function describeSystemState(state: PlannedSystemState): string[] {
  const lines: string[] = [];
  const env = state.environment;
  if (env) {
    lines.push(`generate ${env.item} (${env.size} bytes): ${env.names.join(', ') || 'no variable matches'}`);
    if (env.secretNames.length) {
      const fate =
        env.secretEncryptedWith === null
          ? 'SKIPPED: sensitive and no encryption key is configured'
          : `sensitive, encrypted with key ${env.secretEncryptedWith}`;
      lines.push(
        `generate ${env.secretItem} (${env.secretSize} bytes, ${fate}): ${env.secretNames.join(', ')}`,
      );
    }
  }
  const deps = state.dependencies;
  if (deps) {
    lines.push(`generate ${deps.item}:`);
    for (const m of deps.manifests) lines.push(`  manifest ${m.path} (${m.size} bytes)`);
    for (const p of deps.problems) lines.push(`  manifest ${p.path}: ${p.error}`);
    for (const c of deps.commands)
      lines.push(`  command ${c.name}: ${c.argv.join(' ')}${c.cwd ? ` (in ${c.cwd})` : ''}`);
  }
  return lines;
}
