import { z } from 'zod';
import type { FileClass } from './classify.ts';
import { backupIdSchema } from './ids.ts';
import { retentionSchema } from './kinds.ts';
import { type BackupRequest, backupRequestSchema, type RequestScope } from './request.ts';
import { lineText } from './text.ts';

const NIL_UUIDS = new Set(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']);

/**
 * An id the caller chooses for its backup. The nil and max uuids are refused: a client that sends
 * a placeholder would get one backup for every request. Uppercase is folded to lowercase, as
 * Postgres prints a uuid, so the job id and the row agree.
 */
export const chosenBackupIdSchema = backupIdSchema
  .refine(
    (id) => !NIL_UUIDS.has(id.toLowerCase()),
    'id: the nil and max uuids are placeholders; generate a random uuid (v4)',
  )
  .transform((id) => id.toLowerCase());

/**
 * What another service sends to ask for a pre-change backup, over HTTP, through the client
 * library or as a `pre-change` job. `id` lets the caller choose the backup's id (a uuid): a
 * retried request with the same id returns the same backup instead of taking a second one.
 */
export const preChangeRequestSchema = z.strictObject({
  id: chosenBackupIdSchema.optional(),
  host: backupRequestSchema.shape.host,
  paths: backupRequestSchema.shape.paths,
  description: lineText(200),
  change_ticket: lineText(200),
  retention: retentionSchema.optional(),
  /** A database migration: the seed keeps every pre-migration snapshot, so the default becomes permanent. */
  migration: z.boolean().optional(),
});
export type PreChangeRequest = z.infer<typeof preChangeRequestSchema>;

/**
 * The queue's form of the same request: a queued job has no response to carry an id back, so
 * the caller must choose it, and the job id is derived from it (adding the job twice is a no-op).
 */
export const preChangeJobSchema = preChangeRequestSchema.required({ id: true });

/**
 * The backup request a pre-change request stands for. Retention is left unset when the caller
 * gave none and it is no migration, so the snapshot can still upgrade it (retentionAfterSnapshot).
 */
export function preChangeBackupRequest(req: PreChangeRequest, scope?: RequestScope): BackupRequest {
  const retention = req.retention ?? (req.migration ? 'permanent' : undefined);
  return {
    host: req.host,
    kind: 'pre_change',
    paths: req.paths,
    description: req.description,
    ticket: req.change_ticket,
    ...(retention ? { retention } : {}),
    ...(scope ? { scope } : {}),
  };
}

/**
 * The retention a snapshot's files call for, or null to keep the requested one. The seed keeps
 * all database pre-migration snapshots, and whether a backup holds database files is known only
 * once the agent has classified them: a pre_change left at the default that holds any becomes
 * `permanent`. A retention the caller chose explicitly is never overridden.
 */
export function retentionAfterSnapshot(
  request: Pick<BackupRequest, 'kind' | 'retention'>,
  classes: Iterable<FileClass>,
): 'permanent' | null {
  if (request.kind !== 'pre_change' || request.retention !== undefined) return null;
  for (const cls of classes) if (cls === 'database') return 'permanent';
  return null;
}
