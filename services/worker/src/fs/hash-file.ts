import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { readChunks } from './atomic-copy.ts';

/**
 * sha256 and size of a file of our own (a stored copy), read through a pooled buffer: no stream,
 * no listener on the signal, no fresh buffer per file.
 */
export async function hashFile(
  file: string,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const handle = await open(file, 'r');
  try {
    const hash = createHash('sha256');
    let size = 0;
    const { size: statSize } = await handle.stat();
    await readChunks(handle, statSize, signal, (chunk) => {
      hash.update(chunk);
      size += chunk.length;
    });
    return { sha256: hash.digest('hex'), size };
  } finally {
    await handle.close();
  }
}
