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

/** A copy restored bytes can come from: the host's backup directory or a target's blobs. */
export interface CopySource {
  name: string;
  open(file: RestoreFile): Promise<Readable>;
}

/** The host's own copy under BACKUP_ROOT/<key>. */
export function localSource(name: string, dir: string): CopySource {
  return {
    name,
    open: async (file) => createReadStream(path.join(dir, file.storedPath), { highWaterMark: 1 << 20 }),
  };
}

/** A target's content-addressed blobs. */
export function targetSource(target: StorageTarget): CopySource {
  return { name: target.name, open: (file) => target.get(blobKey(file.sha256)) };
}

export interface RestoreOptions {
  to: string;
  force: boolean;
  /** Told when a copy failed for a file and the next one is tried. */
  onFallback?: (file: RestoreFile, copy: string, error: Error) => void;
}

export interface RestoredFile {
  path: string;
  sha256: string;
  size: number;
  copy: string;
}

export interface RestoreResult {
  files: RestoredFile[];
  bytes: number;
  fallbacks: { path: string; copy: string; error: string }[];
}

/**
 * Restores files under `to` with their original names (no added suffixes), checking every
 * sha256 as the bytes stream through. Copies are tried in the order given: when one is
 * unreachable or its bytes do not match, the next serves that file. Nothing is overwritten
 * without `force`, and each file lands by rename only once its hash matched.
 */
export async function restoreFiles(
  files: RestoreFile[],
  sources: CopySource[],
  opts: RestoreOptions,
): Promise<RestoreResult> {
  if (!sources.length) throw new PermanentFailure('no copy to restore from: none is verified or reachable');
  const root = path.resolve(opts.to);
  const plan = files.map((f) => ({ file: f, dest: destination(root, f.path) }));
  if (!opts.force)
    await refuseOverwrite(
      root,
      plan.map((p) => p.dest),
    );
  const result: RestoreResult = { files: [], bytes: 0, fallbacks: [] };
  for (const { file, dest } of plan) {
    const errors: string[] = [];
    for (const source of sources) {
      try {
        await restoreOne(file, () => source.open(file), dest);
        result.files.push({ path: file.path, sha256: file.sha256, size: file.size, copy: source.name });
        result.bytes += file.size;
        break;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        errors.push(`${source.name}: ${error.message}`);
        result.fallbacks.push({ path: file.path, copy: source.name, error: error.message });
        opts.onFallback?.(file, source.name, error);
      }
    }
    if (errors.length === sources.length) {
      throw new PermanentFailure(`could not restore ${file.path} from any copy (${errors.join('; ')})`, {
        result,
      });
    }
  }
  return result;
}

async function refuseOverwrite(root: string, destinations: string[]): Promise<void> {
  const existing: string[] = [];
  for (const d of destinations) {
    if (
      await access(d).then(
        () => true,
        () => false,
      )
    )
      existing.push(d);
  }
  if (existing.length) {
    throw new BadInputError(
      `${existing.length} file(s) already exist under ${root} (first: ${existing[0]}); use --force to overwrite`,
    );
  }
}

function destination(root: string, relPath: string): string {
  const dest = path.resolve(root, relPath);
  // Paths come from metadata or a bucket's manifest; never let one write outside the restore root.
  if (path.isAbsolute(relPath) || !isInside(dest, root) || dest === root) {
    throw new PermanentFailure(`refusing to restore ${JSON.stringify(relPath)}: it escapes ${root}`);
  }
  return dest;
}

async function restoreOne(
  file: RestoreFile,
  openInput: () => Promise<Readable>,
  dest: string,
): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  const temp = `${dest}.fbrestore-${process.pid}`;
  const out = await open(temp, 'w', 0o600);
  const verifier = new Sha256Verifier(
    file.sha256,
    (actual) => new PermanentFailure(`${file.path}: bytes hash to ${actual}, expected ${file.sha256}`),
    file.size,
  );
  try {
    await pipeline(await openInput(), verifier, async (source: AsyncIterable<Buffer>) => {
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
