import path from 'node:path';
import { hostMetadataChunks, type Queryable, seedVersion, withReadSnapshot } from '@fleet-backup/db';
import { writeTextAtomic } from '@fleet-backup/runtime';
import { getAttribute, setAttribute } from '@napi-rs/xattr';

export const METADATA_FILE = 'backup_metadata.json';
// The seed version a document was written at travels with it, as an extended attribute set on the
// temporary file before the rename: file and version can never disagree, and BACKUP_ROOT holds
// nothing the seed does not name. Where xattrs are not supported the file is simply written again.
const VERSION_XATTR = 'user.fleet-backup.seed-version';

let chain: Promise<unknown> = Promise.resolve();

/**
 * Writes BACKUP_ROOT/backup_metadata.json for one host from Postgres, streamed (memory bounded
 * whatever the number of files) and atomically (temp file, fsync, rename), and only when something
 * the seed can see changed since it was last written. Writes are serialised so a slow older write
 * never lands after a newer one. Resolves to the file's path.
 */
export function writeHostMetadataFile(q: Queryable, host: string, backupRoot: string): Promise<string> {
  const run = chain.then(() => writeIfChanged(q, host, backupRoot));
  chain = run.catch(() => {});
  return run;
}

async function writeIfChanged(q: Queryable, host: string, backupRoot: string): Promise<string> {
  const file = path.join(backupRoot, METADATA_FILE);
  // One snapshot for the version and the document, so the recorded version is the written one's.
  await withReadSnapshot(q, async (rows, tx) => {
    const version = await seedVersion(tx, host);
    if ((await writtenVersion(file)) === version) return;
    await writeTextAtomic(file, withNewline(hostMetadataChunks(rows, host)), async (temp) => {
      await setAttribute(temp, VERSION_XATTR, version).catch(() => {});
    });
  });
  return file;
}

async function writtenVersion(file: string): Promise<string | null> {
  return (await getAttribute(file, VERSION_XATTR).catch(() => null))?.toString('utf8') ?? null;
}

async function* withNewline(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  yield* chunks;
  yield '\n';
}
