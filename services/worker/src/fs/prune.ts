import { readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_MARK } from './atomic-copy.ts';

/**
 * Removes temporary files left by a killed run and, when `keep` is given, any file that is not
 * part of the backup (a file copied by an earlier, interrupted run that has since vanished from
 * the source). Leaves the backup directory holding exactly what the metadata lists.
 */
export async function pruneBackupDir(dir: string, keep?: Set<string>): Promise<number> {
  let removed = 0;
  const visit = async (rel: string): Promise<boolean> => {
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    let kept = 0;
    for (const e of entries) {
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (await visit(childRel)) kept++;
        else await rm(path.join(dir, childRel), { recursive: true, force: true });
      } else if (e.name.startsWith(TEMP_MARK) || (keep && !keep.has(childRel))) {
        await unlink(path.join(dir, childRel)).catch(() => {});
        removed++;
      } else kept++;
    }
    return kept > 0 || rel === '';
  };
  await visit('');
  return removed;
}
