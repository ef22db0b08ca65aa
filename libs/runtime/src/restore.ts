import { createReadStream } from 'node:fs';
import { access, mkdir, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BadInputError,
  DecryptionFailure,
  decryptStream,
  isInside,
  type Keyring,
  NO_KEYS,
  PermanentFailure,
} from '@fleet-backup/core';
import { blobKey, Sha256Verifier, type StorageTarget } from '@fleet-backup/storage';

/** A copy served bytes whose sha256 or size is not the recorded one: the copy itself is bad. */
export class RestoreMismatch extends PermanentFailure {}

export interface RestoreFile {
  /** Source path without the leading slash, as in the metadata. */
  path: string;
  storedPath: string;
  size: number;
  sha256: string;
  /**
   * Set for a sensitive file: what is stored is the file encrypted, in the blob `sha256` of
   * `size` bytes, decrypted with key `keyId`. `size` and `sha256` above stay the plaintext's.
   */
  encrypted?: { sha256: string; size: number; keyId: string } | null;
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

/** A target's content-addressed blobs (an encrypted file's blob is its ciphertext's address). */
export function targetSource(target: StorageTarget): CopySource {
  return { name: target.name, open: (file) => target.get(blobKey(file.encrypted?.sha256 ?? file.sha256)) };
}

export interface RestoreOptions {
  to: string;
  force: boolean;
  /** Keys for encrypted (sensitive) files; without the one a file needs, the restore fails naming it. */
  keyring?: Keyring;
  /** Told when a copy failed for a file and the next one is tried. */
  onFallback?: (file: RestoreFile, copy: string, error: Error) => void;
  /** Told as bytes land (for a progress bar): files done, and bytes written including the file in flight. */
  onProgress?: (p: { path: string; files: number; bytes: number }) => void;
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
  const keyring = opts.keyring ?? NO_KEYS;
  refuseMissingKeys(files, keyring);
  const root = path.resolve(opts.to);
  const plan = files.map((f) => ({ file: f, dest: destination(root, f.path) }));
  if (!opts.force)
    await refuseOverwrite(
      root,
      plan.map((p) => p.dest),
    );
  const result: RestoreResult = { files: [], bytes: 0, fallbacks: [] };
  const progress = (file: RestoreFile, written: number) =>
    opts.onProgress?.({ path: file.path, files: result.files.length, bytes: result.bytes + written });
  for (const { file, dest } of plan) {
    const errors: string[] = [];
    for (const source of sources) {
      try {
        await restoreOne(
          file,
          () => source.open(file),
          dest,
          keyring,
          (written) => progress(file, written),
        );
        result.files.push({ path: file.path, sha256: file.sha256, size: file.size, copy: source.name });
        result.bytes += file.size;
        progress(file, 0);
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

/**
 * Checked before anything is written: a restore that would fail half-way for want of a key
 * fails at once, naming each file and the key id it needs.
 */
function refuseMissingKeys(files: RestoreFile[], keyring: Keyring): void {
  const missing = files.filter((f) => f.encrypted && !keyring.has(f.encrypted.keyId));
  if (!missing.length) return;
  const ids = [...new Set(missing.map((f) => f.encrypted?.keyId))];
  const list = missing.map((f) => `${f.path} (key ${f.encrypted?.keyId})`);
  throw new DecryptionFailure(
    `cannot restore ${missing.length} encrypted file(s) without encryption key ${ids.join(', ')}: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}; configure ${ids.length > 1 ? 'those keys' : 'that key'} in ENCRYPTION_KEY or ENCRYPTION_OLD_KEYS`,
    { keyIds: ids, files: missing.map((f) => f.path) },
  );
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

/**
 * Writes one file to a temporary name and renames it into place only once every check passed:
 * the GCM tag of an encrypted file (checked at its end, after its plaintext has streamed out)
 * and the plaintext's sha256 and size.
 */
async function restoreOne(
  file: RestoreFile,
  openInput: () => Promise<Readable>,
  dest: string,
  keyring: Keyring,
  onWritten?: (bytes: number) => void,
): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  const temp = `${dest}.fbrestore-${process.pid}`;
  const out = await open(temp, 'w', 0o600);
  const verifier = new Sha256Verifier(
    file.sha256,
    (actual) => new RestoreMismatch(`${file.path}: bytes hash to ${actual}, expected ${file.sha256}`),
    file.size,
  );
  try {
    let written = 0;
    const write = async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) {
        await out.write(chunk);
        written += chunk.length;
        onWritten?.(written);
      }
    };
    const input = await openInput();
    if (file.encrypted) await pipeline(input, decryptStream(keyring, file.path), verifier, write);
    else await pipeline(input, verifier, write);
    await out.sync();
    await out.close();
    await rename(temp, dest);
  } catch (err) {
    await out.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
}
