import { randomBytes } from 'node:crypto';
import { mkdir, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { hostMetadata, type Queryable } from '@fleet-backup/db';

let chain: Promise<unknown> = Promise.resolve();

/**
 * Rewrites BACKUP_ROOT/backup_metadata.json for one host from Postgres, atomically (temp file,
 * fsync, rename). Writes are serialised so a slow older write never lands after a newer one.
 */
export function writeHostMetadataFile(q: Queryable, host: string, backupRoot: string): Promise<string> {
  const run = chain.then(async () => {
    const doc = await hostMetadata(q, host);
    return writeJsonAtomic(path.join(backupRoot, 'backup_metadata.json'), doc);
  });
  chain = run.catch(() => {});
  return run;
}

/** Writes JSON to file via a temporary file and rename, so readers never see half a document. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
  return file;
}
