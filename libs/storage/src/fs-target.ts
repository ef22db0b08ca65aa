import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { addAbortSignal, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AlreadyExistsError, IntegrityError, NotFoundError, PermanentError } from './errors.ts';
import { errnoCode, type FsErrorContext, mapFsError } from './fs-errors.ts';
import { decodeCursor, listFsPage, MAX_LIST_LIMIT } from './fs-list.ts';
import { SHA256_HEX, Sha256Verifier } from './integrity.ts';
import { assertValidKey, assertValidPrefix } from './keys.ts';
import { usingBody } from './put-body.ts';
import { resolveRange } from './range.ts';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  StorageTarget,
} from './target.ts';
import type { TargetFactoryInput } from './target-spec.ts';

/** Temp files live under the root so the final rename stays on one filesystem (and is atomic). */
const TMP_DIR = '.tmp';
const HIDDEN = new Set([TMP_DIR]);
/** Errno codes a directory fsync may return on filesystems that do not support it (some NFS, CIFS). */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EISDIR', 'EBADF']);

export interface FsTargetOptions {
  name: string;
  /** Directory on another disk or an NFS mount; it must exist (it is never created, see ensureTmpDir). */
  root: string;
  offsite?: boolean;
}

/** Waits until a stream has released its file descriptor, so a temp file is not recreated after removal. */
function closed(stream: Writable): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((done) => stream.once('close', () => done()));
}

/** A target on a local or mounted filesystem: objects are files under `root`, keyed by relative path. */
export class FsTarget implements StorageTarget {
  readonly name: string;
  readonly kind = 'fs' as const;
  readonly offsite: boolean;
  readonly location: string;
  readonly root: string;
  private readonly rootWithSep: string;

  constructor(opts: FsTargetOptions) {
    this.name = opts.name;
    this.offsite = opts.offsite ?? false;
    this.root = resolve(opts.root);
    this.rootWithSep = this.root.endsWith(sep) ? this.root : this.root + sep;
    this.location = pathToFileURL(this.root).href;
  }

  /** The file path of a key; validated twice so that no key can ever name a path outside the root. */
  private pathOf(key: string): string {
    assertValidKey(key, this.name);
    const segments = key.split('/');
    if (segments[0] === TMP_DIR) {
      throw new PermanentError(
        `key ${key} is under ${TMP_DIR}/, which target ${this.name} reserves for uploads`,
        {
          target: this.name,
          key,
        },
      );
    }
    const path = resolve(this.root, ...segments);
    if (!path.startsWith(this.rootWithSep)) {
      throw new PermanentError(`key ${key} resolves outside the root of target ${this.name}`, {
        target: this.name,
        key,
      });
    }
    return path;
  }

  private ctx(key: string | undefined, path: string, op: string, reading: boolean): FsErrorContext {
    return key === undefined
      ? { target: this.name, path, op, reading }
      : { target: this.name, key, path, op, reading };
  }

  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    await usingBody(body, async (stream) => {
      const path = this.pathOf(key);
      if (!SHA256_HEX.test(opts.sha256)) {
        throw new PermanentError(
          `expected sha256 for ${key} is not 64 lowercase hex digits: ${opts.sha256}`,
          { target: this.name, key },
        );
      }
      const tmp = join(await this.ensureTmpDir(key), `${randomUUID()}.part`);
      try {
        await this.writeVerified(key, tmp, stream, opts);
        await this.moveIntoPlace(key, tmp, path, opts.ifAbsent === true);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * The root is never created: if a mount is missing, writing into an empty mount point would
   * silently fill the wrong disk. Only the temp dir inside it is created.
   */
  private async ensureTmpDir(key: string): Promise<string> {
    const dir = join(this.root, TMP_DIR);
    try {
      await mkdir(dir);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') return dir;
      const opts = { target: this.name, key, cause: err };
      if (code === 'ENOENT') {
        throw new PermanentError(
          `root ${this.root} of target ${this.name} does not exist: create or mount it`,
          opts,
        );
      }
      if (code === 'ENOTDIR') {
        throw new PermanentError(
          `root ${this.root} of target ${this.name} is not a directory: fix the target URL`,
          opts,
        );
      }
      throw mapFsError(err, this.ctx(key, dir, 'create temp dir', false));
    }
    return dir;
  }

  /** Streams the body to a fresh temp file, failing before the last bytes land if the sha256 is wrong. */
  private async writeVerified(key: string, tmp: string, body: Readable, opts: PutOptions): Promise<void> {
    const verifier: Sha256Verifier = new Sha256Verifier(
      opts.sha256,
      (actual) =>
        // Same digest means only the promised size was wrong; say so rather than "expected X, got X".
        actual === opts.sha256
          ? new PermanentError(`${key}: expected ${opts.size} bytes, got ${verifier.bytes}`, {
              target: this.name,
              key,
            })
          : new IntegrityError(this.name, key, opts.sha256, actual),
      opts.size,
    );
    // `flush` fsyncs the file before close, so the rename below never publishes unwritten data.
    const out = createWriteStream(tmp, { flags: 'wx', flush: true });
    let writeError: unknown;
    out.once('error', (err) => {
      writeError = err;
    });
    try {
      await pipeline(body, verifier, out, opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      await closed(out);
      // Failures of the caller's body stream (or an abort) are theirs and pass through unchanged.
      if (err === writeError) throw mapFsError(err, this.ctx(key, tmp, 'write', false));
      throw err;
    }
  }

  /** Renames the temp file into place; create-only, a hard link, which fails when the key exists. */
  private async moveIntoPlace(key: string, tmp: string, path: string, ifAbsent: boolean): Promise<void> {
    const parent = dirname(path);
    for (let attempt = 1; ; attempt++) {
      try {
        const created = await mkdir(parent, { recursive: true });
        if (ifAbsent) {
          await link(tmp, path);
          await unlink(tmp);
        } else await rename(tmp, path);
        await this.syncDirs(parent, created);
        return;
      } catch (err) {
        if (ifAbsent && errnoCode(err) === 'EEXIST') throw new AlreadyExistsError(this.name, key, err);
        // A concurrent delete may prune the new parent between mkdir and rename: make it again.
        if (errnoCode(err) === 'ENOENT' && attempt < 3) continue;
        throw mapFsError(err, this.ctx(key, path, 'rename into place', false));
      }
    }
  }

  /** Makes the rename durable: fsync the parent, plus the parent of every directory mkdir created. */
  private async syncDirs(parent: string, firstCreated: string | undefined): Promise<void> {
    const dirs = [parent];
    if (firstCreated !== undefined) {
      const stop = dirname(firstCreated);
      for (let d = parent; d !== stop && d !== dirname(d); ) {
        d = dirname(d);
        dirs.push(d);
      }
    }
    for (const dir of dirs) await fsyncDir(dir);
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const path = this.pathOf(key);
    signal?.throwIfAborted();
    // Open first so a missing key fails here, as NotFoundError, rather than later inside the stream.
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw mapFsError(err, this.ctx(key, path, 'open', true));
    }
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw new NotFoundError(this.name, key);
      const bounds = resolveRange(range, info.size, { target: this.name, key });
      const stream = fh.createReadStream({ ...bounds, autoClose: true });
      return signal ? addAbortSignal(signal, stream) : stream;
    } catch (err) {
      await fh.close();
      throw mapFsError(err, this.ctx(key, path, 'read', true));
    }
  }

  async head(key: string): Promise<ObjectInfo> {
    const path = this.pathOf(key);
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new NotFoundError(this.name, key);
      return { key, size: info.size };
    } catch (err) {
      throw mapFsError(err, this.ctx(key, path, 'stat', true));
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    assertValidPrefix(prefix, this.name);
    const limit = Math.min(opts.limit ?? MAX_LIST_LIMIT, MAX_LIST_LIMIT);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new PermanentError(`list limit must be a positive integer, got ${opts.limit}`, {
        target: this.name,
      });
    }
    const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    if (opts.cursor !== undefined && after === undefined) {
      throw new PermanentError(`invalid list cursor for target ${this.name}: ${opts.cursor}`, {
        target: this.name,
      });
    }
    try {
      return await listFsPage({ root: this.root, prefix, after, limit, hidden: HIDDEN });
    } catch (err) {
      throw mapFsError(err, this.ctx(undefined, this.root, `list ${prefix}`, false));
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      const code = errnoCode(err);
      // Absent (or a directory, which is no object): already deleted as far as callers can tell.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw mapFsError(err, this.ctx(key, path, 'delete', false));
    }
    await this.pruneEmptyParents(dirname(path));
  }

  /** Expired backups would leave hosts/<host>/<key>/ dirs behind forever; remove them while empty. */
  private async pruneEmptyParents(start: string): Promise<void> {
    for (let dir = start; dir.startsWith(this.rootWithSep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        return; // ENOTEMPTY (the usual case) or a concurrent put: leave it.
      }
    }
  }
}

/** fsync a directory so a rename or mkdir inside it survives a crash. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has(errnoCode(err) ?? '')) throw err;
  } finally {
    await fh.close();
  }
}

/** Registry factory for `file:///path` URLs; file targets are onsite unless the spec says otherwise. */
export function createFsTargetFromUrl(input: TargetFactoryInput): FsTarget {
  let root: string;
  try {
    root = fileURLToPath(input.url);
  } catch (err) {
    throw new PermanentError(
      `target ${input.name}: cannot use ${input.url.href} as a local path (${String(err)})`,
      {
        target: input.name,
        cause: err,
      },
    );
  }
  return new FsTarget({ name: input.name, root, offsite: input.offsite ?? false });
}
