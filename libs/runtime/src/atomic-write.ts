import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

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
