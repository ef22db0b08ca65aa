import { type BackupRequest, BadInputError, backupRequestSchema, describeIssues } from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import { refreshConfig } from './catalog-config.ts';
import type { Runtime } from './runtime.ts';

/**
 * Records a backup in Postgres, then enqueues its first stage. Postgres first: if the process
 * dies in between, the reconciler finds the backup and enqueues it, so a request is never lost.
 */
export async function requestBackup(
  rt: Runtime,
  input: unknown,
  opts: { id?: string } = {},
): Promise<{ backup: BackupRow; created: boolean }> {
  const parsed = backupRequestSchema.safeParse(input);
  if (!parsed.success) throw new BadInputError(`invalid backup request: ${describeIssues(parsed.error)}`);
  const request: BackupRequest = parsed.data;
  // Planned on the newest configuration version, whichever process plans it.
  await refreshConfig(rt);
  const result = await rt.backups.create({
    ...(opts.id ? { id: opts.id } : {}),
    request,
    targets: rt.targets.refs(),
    configVersion: rt.configVersion,
    dailyRetentionDays: rt.config.dailyRetentionDays,
  });
  await rt.advance(result.backup.id);
  return result;
}
