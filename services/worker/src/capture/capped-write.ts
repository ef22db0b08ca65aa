import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

export interface CappedWrite {
  /** Bytes read from the source, all of them. */
  size: number;
  /** sha256 of everything read, not only of what was kept. */
  sha256: string;
  /** Bytes written to the file: min(size, cap). */
  kept: number;
  truncated: boolean;
}

/**
 * Streams a source into an open file, keeping the first `cap` bytes and hashing all of them.
 * Memory holds one chunk at a time, and the source waits for each write (backpressure). `onCap`
 * fires once, when the cap is crossed. The caller opens and closes the file.
 */
export async function writeCapped(
  source: AsyncIterable<Buffer | string>,
  out: FileHandle,
  cap: number,
  onCap?: () => void,
): Promise<CappedWrite> {
  const hash = createHash('sha256');
  let size = 0;
  let kept = 0;
  for await (const raw of source) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    hash.update(chunk);
    size += chunk.length;
    const room = cap - kept;
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      await out.write(part);
      kept += part.length;
    }
    if (size > cap && size - chunk.length <= cap) onCap?.();
  }
  return { size, sha256: hash.digest('hex'), kept, truncated: size > kept };
}

/** A new file for captured bytes: mode 0600, as it may hold what a host considers private. */
export function createPrivate(file: string): Promise<FileHandle> {
  return open(file, 'wx', 0o600);
}
