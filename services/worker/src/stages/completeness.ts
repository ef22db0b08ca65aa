import {
  describeDrop,
  describeMassChange,
  type MassChange,
  massChange,
  missingRequired,
  type SharpDrop,
  sharpDrop,
} from '@fleet-backup/core';
import { type BackupRow, completenessQueries, type FileRow, type Queryable } from '@fleet-backup/db';
import type { JobContext } from '@fleet-backup/queue';
import type { AgentEnv } from '../agent-env.ts';

/** What the completeness check found for one snapshot; stored with the backup. */
export interface Completeness {
  missing: string[];
  sharpDrop: SharpDrop | null;
  massChange: MassChange | null;
}

/**
 * Checks a fresh snapshot inside the transaction that commits it: the sources' required globs
 * against the stored files, and its size against the host's previous backup of the same paths
 * (libs/db completenessQueries.previousSnapshot says which one that is): by count and size
 * (a sharp drop), and by content (a mass change: most files rewritten or gone, as ransomware
 * leaves a tree). The snapshot's rows are saved in `tx` already. Missing required files make the
 * backup `incomplete`. The other two are only flagged and never fail the backup: a deliberate
 * cleanup or upgrade is legitimate, and only the operator can tell it from an emptied folder, a
 * broken mount or an attack.
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
  if (!previous) return { missing, sharpDrop: null, massChange: null };
  const { config } = env.rt;
  const against = { previous: { id: previous.id, key: previous.key } };
  const drop = sharpDrop(current, previous, config.dropThresholdPercent);
  const changed = massChange(
    await completenessQueries.changedSince(tx, backup.id, previous.id),
    config.massChangePercent,
  );
  return {
    missing,
    sharpDrop: drop && { ...against, ...drop },
    massChange: changed && { ...against, ...changed },
  };
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
  if (found.massChange) {
    log.warn(
      { massChange: found.massChange },
      `mass change since the previous backup (ransomware?): ${describeMassChange(found.massChange)}`,
    );
  }
}
