import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { blobKey, type ReadOnlyTarget } from '@fleet-backup/storage';
import type { RestoreFile } from './model.ts';

/** A copy restored bytes can come from: the host's backup directory or a target's blobs. */
export interface CopySource {
  name: string;
  open(file: RestoreFile): Promise<Readable>;
}

/** The host's own copy under BACKUP_ROOT/<key> (stored paths are checked before anything is read). */
export function localSource(name: string, dir: string): CopySource {
  return {
    name,
    // A read stream allocates its whole highWaterMark per read: sized to the file, not 1 MiB for each small one.
    open: async (file) =>
      createReadStream(path.join(dir, file.storedPath), {
        highWaterMark: Math.min(1 << 20, Math.max(file.encrypted?.size ?? file.size, 1)),
      }),
  };
}

/** A target's content-addressed blobs (an encrypted file's blob is its ciphertext's address). */
export function targetSource(target: ReadOnlyTarget): CopySource {
  return { name: target.name, open: (file) => target.get(blobKey(file.encrypted?.sha256 ?? file.sha256)) };
}
