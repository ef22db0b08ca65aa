import {
  BadInputError,
  describeIssues,
  type PreChangeRequest,
  preChangeBackupRequest,
  preChangeRequestSchema,
  type RequestScope,
} from '@fleet-backup/core';
import type { BackupRow } from '@fleet-backup/db';
import { requestBackup } from './requests.ts';
import type { Runtime } from './runtime.ts';

/**
 * Records a pre-change backup (HTTP, client library or `pre-change` job) and enqueues its
 * snapshot. `authorize` runs on the parsed request before anything is written, so a request
 * out of its token's scope leaves nothing behind; the scope it returns travels with the request
 * for the agent to enforce on real paths.
 */
export async function requestPreChange(
  rt: Runtime,
  input: unknown,
  authorize?: (request: PreChangeRequest) => RequestScope | undefined,
): Promise<{ backup: BackupRow; created: boolean }> {
  const parsed = preChangeRequestSchema.safeParse(input);
  if (!parsed.success) throw new BadInputError(`invalid pre-change request: ${describeIssues(parsed.error)}`);
  const scope = authorize?.(parsed.data);
  return requestBackup(rt, preChangeBackupRequest(parsed.data, scope), { id: parsed.data.id });
}
