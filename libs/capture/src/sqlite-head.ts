import type { FileHandle } from 'node:fs/promises';
import { SQLITE_HEADER } from '@fleet-backup/core';

/** The first bytes of an open file, enough to recognise SQLite's 16-byte header. */
export async function readHead(handle: FileHandle): Promise<Buffer> {
  const head = Buffer.alloc(SQLITE_HEADER.length);
  const { bytesRead } = await handle.read(head, 0, head.length, 0);
  return head.subarray(0, bytesRead);
}
