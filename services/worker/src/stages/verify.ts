import { createHash } from 'node:crypto';
import { type BackupDetail, type FileRow, storedBlob } from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import type { Runtime } from '@fleet-backup/runtime';
import {
  blobKey,
  type Manifest,
  manifestKey,
  NotFoundError,
  type ObjectInfo,
  parseManifest,
  readObject,
  StorageError,
  type StorageTarget,
} from '@fleet-backup/storage';

export interface CopyProblem {
  path: string;
  problem: string;
}

/**
 * verify (pool): reads the copy on one target back in full, re-hashes every blob and compares it
 * and the manifest with the metadata. A mismatch marks that copy corrupt (the backup then stays
 * unverified); only a copy whose every file matches counts as verified.
 */
export async function verify(rt: Runtime, data: JobData<'verify'>, ctx: JobContext): Promise<void> {
  const { backups } = rt;
  if ((await backups.startStage(data.backupId, 'verify', data.target)) === 'started') {
    const target = rt.targets.get(data.target);
    const detail = await backups.detail(data.backupId);
    const problems = [
      ...(await checkManifest(target, detail)),
      ...(await checkBlobs(target, detail, ctx.signal)),
    ];
    const status = problems.length === 0 ? 'verified' : 'corrupt';
    await backups.transaction(async (tx) => {
      await backups.lock(data.backupId, tx);
      await backups.setCopy(tx, data.backupId, target.name, status, {
        checkedFiles: detail.files.length,
        checkedBytes: detail.files.reduce((n, f) => n + f.size, 0),
        problems: problems.slice(0, 100),
      });
      await backups.finishStage(tx, data.backupId, 'verify', target.name);
    });
    rt.metrics.bytesVerified.inc(
      { target: target.name },
      detail.files.reduce((n, f) => n + f.size, 0),
    );
    if (problems.length)
      ctx.log.error({ target: target.name, problems: problems.slice(0, 10) }, 'copy is corrupt');
    else ctx.log.info({ target: target.name }, 'copy verified');
  }
  // The host's backup_metadata.json lives on its agent; ask it to refresh.
  await rt.queues.add('refresh-metadata', { host: data.host, backupId: data.backupId });
}

async function checkManifest(target: StorageTarget, { backup, files }: BackupDetail): Promise<CopyProblem[]> {
  const key = manifestKey(backup.host, backup.key);
  let bytes: Buffer;
  try {
    bytes = await readObject(target, key);
  } catch (err) {
    if (err instanceof NotFoundError) return [{ path: key, problem: 'manifest missing' }];
    throw err;
  }
  let manifest: Manifest;
  try {
    manifest = parseManifest(bytes, { target: target.name, key });
  } catch (err) {
    return [{ path: key, problem: `manifest unreadable: ${(err as Error).message}` }];
  }
  const problems: CopyProblem[] = [];
  for (const f of files) {
    const m = manifest.files[f.storedPath];
    if (!m || m.sha256 !== f.sha256 || m.size !== f.size || m.path !== f.path || !sameEncryption(m, f)) {
      problems.push({ path: f.path, problem: 'manifest entry missing or different from the metadata' });
    }
  }
  if (Object.keys(manifest.files).length !== files.length) {
    problems.push({ path: key, problem: 'manifest lists a different number of files' });
  }
  return problems;
}

/** The manifest names the same ciphertext blob and key as the metadata, or neither does. */
function sameEncryption(m: Manifest['files'][string], f: FileRow): boolean {
  const e = f.encrypted;
  if (!e) return m.keyId === undefined;
  return m.storedSha256 === e.sha256 && m.storedSize === e.size && m.keyId === e.keyId;
}

async function checkBlobs(
  target: StorageTarget,
  { files }: BackupDetail,
  signal: AbortSignal,
): Promise<CopyProblem[]> {
  const problems: CopyProblem[] = [];
  const checked = new Map<string, string | null>();
  for (const f of files) {
    signal.throwIfAborted();
    // The blob is what was stored: for an encrypted file, its ciphertext (no key is needed here).
    const blob = storedBlob(f);
    if (!checked.has(blob.sha256))
      checked.set(blob.sha256, await checkBlob(target, blob.sha256, blob.size, signal));
    const problem = checked.get(blob.sha256);
    if (problem) problems.push({ path: f.path, problem });
  }
  return problems;
}

async function checkBlob(
  target: StorageTarget,
  sha256: string,
  size: number,
  signal: AbortSignal,
): Promise<string | null> {
  try {
    const key = blobKey(sha256);
    const info = await target.head(key);
    const actual = await digest(await target.get(key, undefined, signal));
    if (actual.sha256 !== sha256) return `blob content differs (sha256 ${actual.sha256})`;
    if (actual.size !== size || info.size !== size) return `blob size ${actual.size}, expected ${size}`;
    return storedChecksumProblem(target, info, actual);
  } catch (err) {
    if (err instanceof NotFoundError) return 'blob missing';
    // The client's own download validation (GCS crc32c/md5) failed: the stored bytes are bad.
    if (err instanceof StorageError && !err.transient) return `unreadable: ${err.message}`;
    throw err;
  }
}

/** sha256 and md5 of a stream, read once. */
async function digest(stream: NodeJS.ReadableStream): Promise<{ sha256: string; md5: Buffer; size: number }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  for await (const chunk of stream) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: sha.digest('hex'), md5: md5.digest(), size };
}

/**
 * Compares what the server says it stored with what was read: S3's ChecksumSHA256 and a
 * single-part ETag (the md5), GCS's md5Hash. A disagreement means the server's object and its
 * own record differ, which no later read should be trusted over.
 */
function storedChecksumProblem(
  target: StorageTarget,
  info: ObjectInfo,
  actual: { sha256: string; md5: Buffer },
): string | null {
  const c = info.checksums ?? {};
  if (c.sha256 && c.sha256 !== actual.sha256)
    return `stored sha256 checksum ${c.sha256} differs from the bytes`;
  if (c.md5 && c.md5 !== actual.md5.toString('base64')) return `stored md5 ${c.md5} differs from the bytes`;
  if (
    target.kind === 's3' &&
    c.etag &&
    /^[0-9a-f]{32}$/.test(c.etag) &&
    c.etag !== actual.md5.toString('hex')
  ) {
    return `stored ETag ${c.etag} differs from the bytes' md5`;
  }
  return null;
}
