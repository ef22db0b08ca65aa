import path from 'node:path';
import type { HostConfig } from '@fleet-backup/config';
import { PermanentFailure } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import type { Runtime } from '@fleet-backup/runtime';

/** What an agent's stages share: the runtime, the one host it serves, and that host's backup root. */
export interface AgentEnv {
  rt: Runtime;
  host: string;
  hostConfig: HostConfig;
  backupRoot: string;
}

/** Refuses work for another host: host work stays on its host even if a job is misrouted. */
export function assertOwnHost(env: AgentEnv, backup: BackupRow): void {
  if (backup.host !== env.host) {
    throw new PermanentFailure(
      `backup ${backup.id} belongs to host ${backup.host}, not to this agent (${env.host})`,
    );
  }
}

/** The backup's directory: BACKUP_ROOT/<key>. */
export function backupDir(env: AgentEnv, backup: BackupRow): string {
  return path.join(env.backupRoot, backup.key);
}
