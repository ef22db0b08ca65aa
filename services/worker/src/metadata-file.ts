import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { hostMetadataChunks, type Queryable, seedVersion, withReadSnapshot } from '@fleet-backup/db';
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

/**
 * Writes the chunks to file via a temporary file, fsync and rename, so readers never see half a
 * document; one chunk in memory at a time.
 */
export async function writeTextAtomic(
  file: string,
  chunks: AsyncIterable<string>,
  beforeRename?: (temp: string) => Promise<void>,
): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w', 0o644);
  try {
    for await (const chunk of chunks) await handle.write(chunk);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await beforeRename?.(temp);
  await rename(temp, file);
  return file;
}

/** Writes JSON to file via a temporary file and rename, so readers never see half a document. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<string> {
  return writeTextAtomic(
    file,
    (async function* () {
      yield `${JSON.stringify(value, null, 2)}\n`;
    })(),
  );
}
