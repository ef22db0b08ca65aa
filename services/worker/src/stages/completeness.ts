import { describeDrop, missingRequired, type SharpDrop, sharpDrop } from '@fleet-backup/core';
import { type BackupRow, completenessQueries, type FileRow, type Queryable } from '@fleet-backup/db';
import type { JobContext } from '@fleet-backup/queue';
import type { AgentEnv } from '../agent-env.ts';

/** What the completeness check found for one snapshot; stored with the backup. */
export interface Completeness {
  missing: string[];
  sharpDrop: SharpDrop | null;
}

/**
 * Checks a fresh snapshot inside the transaction that commits it: the sources' required globs
 * against the stored files, and its size against the host's previous backup of the same paths
 * (libs/db completenessQueries.previousSnapshot says which one that is). Missing required
 * files make the backup `incomplete`. A sharp drop is only flagged and never fails the backup:
 * a deliberate cleanup is legitimate, and only the operator can tell it from an emptied folder
 * or a broken mount.
 */
export async function checkCompleteness(
  env: AgentEnv,
  backup: BackupRow,
  files: Pick<FileRow, 'path' | 'size'>[],
  tx: Queryable,
): Promise<Completeness> {
  const paths = backup.request.paths;
  // Stored file rows carry the absolute path without its leading `/`.
  const missing = missingRequired(
    paths,
    env.hostConfig.sources,
    files.map((f) => `/${f.path}`),
  );
  const previous = await completenessQueries.previousSnapshot(tx, { ...backup, paths });
  const current = { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
  const drop = previous && sharpDrop(current, previous, env.rt.config.dropThresholdPercent);
  return { missing, sharpDrop: drop ? { previous: { id: previous.id, key: previous.key }, ...drop } : null };
}

/** Warns about what the check flagged, so it shows in the agent's log as well as in `show` and `report`. */
export function logCompleteness(log: JobContext['log'], found: Completeness): void {
  if (found.missing.length) {
    log.warn({ missing: found.missing }, 'required files missing: the backup will end incomplete');
  }
  if (found.sharpDrop) {
    log.warn(
      { sharpDrop: found.sharpDrop },
      `sharp drop since the previous backup: ${describeDrop(found.sharpDrop)}`,
    );
  }
}
