import { createReadStream } from 'node:fs';
import { access, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadInputError, isInside, PermanentFailure } from '@fleet-backup/core';
import { blobKey, Sha256Verifier, type StorageTarget } from '@fleet-backup/storage';

export interface RestoreFile {
  /** Source path without the leading slash, as in the metadata. */
  path: string;
  storedPath: string;
  size: number;
  sha256: string;
}

/** Where restored bytes come from: the host's backup directory or a target's blobs. */
export type RestoreSource = { kind: 'local'; dir: string } | { kind: 'target'; target: StorageTarget };

export interface RestoreOptions {
  to: string;
  force: boolean;
  onFile?: (file: RestoreFile) => void;
}

export interface RestoreResult {
  files: number;
  bytes: number;
}

/**
 * Restores files under `to` with their original names (no added suffixes), checking every
 * sha256 as the bytes stream through. Nothing is overwritten without `force`: existing files are
 * detected before anything is written, and each file lands by rename only once its hash matched.
 */
export async function restoreFiles(
  files: RestoreFile[],
  source: RestoreSource,
  opts: RestoreOptions,
): Promise<RestoreResult> {
  const root = path.resolve(opts.to);
  const plan = files.map((f) => ({ file: f, dest: destination(root, f.path) }));
  if (!opts.force) {
    const existing = [];
    for (const p of plan) if (await exists(p.dest)) existing.push(p.dest);
    if (existing.length) {
      throw new BadInputError(
        `${existing.length} file(s) already exist under ${root} (first: ${existing[0]}); use --force to overwrite`,
      );
    }
  }
  let bytes = 0;
  for (const { file, dest } of plan) {
    await restoreOne(file, await openSource(source, file), dest);
    bytes += file.size;
    opts.onFile?.(file);
  }
  return { files: plan.length, bytes };
}

function destination(root: string, relPath: string): string {
  const dest = path.resolve(root, relPath);
  // Paths come from metadata or a bucket's manifest; never let one write outside the restore root.
  if (path.isAbsolute(relPath) || !isInside(dest, root) || dest === root) {
    throw new PermanentFailure(`refusing to restore ${JSON.stringify(relPath)}: it escapes ${root}`);
  }
  return dest;
}

async function openSource(source: RestoreSource, file: RestoreFile): Promise<Readable> {
  if (source.kind === 'local')
    return createReadStream(path.join(source.dir, file.storedPath), { highWaterMark: 1 << 20 });
  return source.target.get(blobKey(file.sha256));
}

async function restoreOne(file: RestoreFile, input: Readable, dest: string): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  const temp = `${dest}.fbrestore-${process.pid}`;
  const out = await open(temp, 'w', 0o600);
  const verifier = new Sha256Verifier(
    file.sha256,
    (actual) =>
      new PermanentFailure(
        `${file.path}: restored bytes hash to ${actual}, expected ${file.sha256}; try another copy with --from`,
      ),
    file.size,
  );
  try {
    await pipeline(input, verifier, async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) await out.write(chunk);
    });
    await out.sync();
    await out.close();
    await rename(temp, dest);
  } catch (err) {
    await out.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
