import {
  BadInputError,
  describeIssues,
  type PreChangeRequest,
  preChangeBackupRequest,
  preChangeRequestSchema,
} from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import { requestBackup } from './requests.ts';
import type { Runtime } from './runtime.ts';

/**
 * Records a pre-change backup (HTTP, client library or `pre-change` job) and enqueues its
 * snapshot. `authorize` runs on the parsed request before anything is written, so a request
 * out of its token's scope leaves nothing behind.
 */
export async function requestPreChange(
  rt: Runtime,
  input: unknown,
  authorize?: (request: PreChangeRequest) => void,
): Promise<{ backup: BackupRow; created: boolean }> {
  const parsed = preChangeRequestSchema.safeParse(input);
  if (!parsed.success) throw new BadInputError(`invalid pre-change request: ${describeIssues(parsed.error)}`);
  authorize?.(parsed.data);
  return requestBackup(rt, preChangeBackupRequest(parsed.data), { id: parsed.data.id });
}
