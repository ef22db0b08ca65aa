import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { readChunks } from './atomic-copy.ts';
import { giveReadBuffer, SMALL_READ, takeReadBuffer } from './buffer-pool.ts';

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

/**
 * hashFile for a copy of at most SMALL_READ bytes, read synchronously: a copy just written is in
 * the page cache, where an open, a read and a close take microseconds and three hops to the thread
 * pool cost more than the reads. Null when the file is larger: read it with hashFile. The caller
 * gives the event loop its turns (TimeSlice).
 */
export function hashSmallFileSync(file: string): { sha256: string; size: number } | null {
  const fd = openSync(file, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size > SMALL_READ) return null;
    const buf = takeReadBuffer(size);
    try {
      const length = readUpToSync(fd, buf, buf.length);
      return { sha256: createHash('sha256').update(buf.subarray(0, length)).digest('hex'), size: length };
    } finally {
      giveReadBuffer(buf);
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads up to `size` bytes from the start of `fd` into `buf` (fewer at end of file); returns how many. */
export function readUpToSync(fd: number, buf: Buffer, size: number): number {
  let length = 0;
  while (length < size) {
    const n = readSync(fd, buf, length, size - length, length);
    if (n === 0) break;
    length += n;
  }
  return length;
}
