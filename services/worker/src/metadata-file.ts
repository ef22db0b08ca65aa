import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostMetadataChunks, type Queryable, seedVersion, withReadSnapshot } from '@fleet-backup/db';

export const METADATA_FILE = 'backup_metadata.json';
// Beside the document: the seed version it was written at, and the size and mtime it was left
// with, so an unchanged host costs one query and two stats, and a file changed behind our back
// is written again.
const STATE_FILE = '.backup_metadata.state';

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
  const stateFile = path.join(backupRoot, STATE_FILE);
  // One snapshot for the version and the document, so the recorded version is the written one's.
  await withReadSnapshot(q, async (rows, tx) => {
    const version = await seedVersion(tx, host);
    const current = await stateOf(file, version);
    if (current !== null && current === (await recordedState(stateFile))) return;
    await writeTextAtomic(file, withNewline(hostMetadataChunks(rows, host)));
    await writeFile(stateFile, (await stateOf(file, version)) ?? '');
  });
  return file;
}

async function recordedState(stateFile: string): Promise<string | null> {
  return readFile(stateFile, 'utf8').catch(() => null);
}

async function stateOf(file: string, version: string): Promise<string | null> {
  const s = await stat(file).catch(() => null);
  return s ? `${version} ${s.size} ${s.mtimeMs}` : null;
}

async function* withNewline(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  yield* chunks;
  yield '\n';
}

/**
 * Writes the chunks to file via a temporary file, fsync and rename, so readers never see half a
 * document; one chunk in memory at a time.
 */
export async function writeTextAtomic(file: string, chunks: AsyncIterable<string>): Promise<string> {
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
