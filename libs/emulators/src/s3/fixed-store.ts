import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type {
  FilesystemStoreBase,
  FilesystemStoreClass,
  ListOptions,
  ListResult,
  S3rverObject,
  S3rverObjectClass,
} from './s3rver-types.ts';

const require = createRequire(import.meta.url);
const FilesystemStore = require('s3rver/lib/stores/filesystem.js') as FilesystemStoreClass;
const S3Object = require('s3rver/lib/models/object.js') as S3rverObjectClass;

/** s3rver names an object's bytes `<dir>/<last segment>._S3rver_object`. */
export const OBJECT_SUFFIX = '._S3rver_object';
const UPLOADS_SUFFIX = '._S3rver_uploads';

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * s3rver's filesystem store with three bugs fixed, each of which breaks a conformance property:
 * - listing walks directories, so `a/b` is listed before `a.txt` (S3 orders by UTF-8 bytes) and
 *   a truncated page's `startAfter` then skips keys; here keys are sorted before paging;
 * - `putObject` writes straight into the object's file, so a reader sees half an object and an
 *   aborted upload leaves one behind; here bytes go to a temp file renamed into place;
 * - `Range: bytes=0-0` returns the whole object (its `end || Infinity` treats 0 as absent), and a
 *   range on an empty object promises a byte it never sends.
 */
export class FixedFilesystemStore
  extends (FilesystemStore as FilesystemStoreClass)
  implements FilesystemStoreBase
{
  override async listObjects(bucket: string, options: ListOptions): Promise<ListResult> {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Number.POSITIVE_INFINITY } = options;
    const all = (await this.keysUnder(this.getBucketPath(bucket), '', prefix))
      .filter((key) => key.startsWith(prefix) && compareKeys(key, startAfter) > 0)
      .sort(compareKeys);
    const keys: string[] = [];
    const commonPrefixes = new Set<string>();
    let isTruncated = false;
    for (const key of all) {
      const idx = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (idx >= 0) {
        commonPrefixes.add(key.slice(0, idx + delimiter.length));
        continue;
      }
      if (keys.length >= maxKeys) {
        isTruncated = true;
        break;
      }
      keys.push(key);
    }
    const objects: S3rverObject[] = [];
    for (const key of keys) {
      try {
        objects.push(new S3Object(bucket, key, null, await this.getMetadata(bucket, key)));
      } catch (err) {
        // Deleted while listing.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return { objects, commonPrefixes: [...commonPrefixes].sort(compareKeys), isTruncated };
  }

  /** Keys stored under `dir` (relative path `rel`), skipping subtrees that cannot match `prefix`. */
  private async keysUnder(dir: string, rel: string, prefix: string): Promise<string[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const keys: string[] = [];
    for (const entry of entries) {
      if (entry.isDirectory()) {
        const sub = `${rel}${entry.name}/`;
        if (entry.name.endsWith(UPLOADS_SUFFIX)) continue;
        if (!sub.startsWith(prefix) && !prefix.startsWith(sub)) continue;
        keys.push(...(await this.keysUnder(join(dir, entry.name), sub, prefix)));
      } else if (entry.name.endsWith(OBJECT_SUFFIX)) {
        keys.push(rel + entry.name.slice(0, -OBJECT_SUFFIX.length));
      }
    }
    return keys;
  }

  override async putObject(object: S3rverObject): Promise<{ size: number; md5: string }> {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    // Not ending in the object suffix, so listings never show it.
    const tmp = `${objectPath}.${randomBytes(6).toString('hex')}.tmp`;
    const md5 = createHash('md5');
    let size = 0;
    try {
      if (Buffer.isBuffer(object.content)) {
        md5.update(object.content);
        size = object.content.length;
        await writeFile(tmp, object.content);
      } else if (object.content) {
        const count = new Transform({
          transform(chunk: Buffer, _enc, done) {
            md5.update(chunk);
            size += chunk.length;
            done(null, chunk);
          },
        });
        await pipeline(object.content, count, createWriteStream(tmp));
      } else {
        await writeFile(tmp, '');
      }
      const digest = md5.digest('hex');
      await this.putMetadata(object.bucket, object.key, object.metadata, digest);
      await rename(tmp, objectPath);
      return { size, md5: digest };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  override async getObject(
    bucket: string,
    key: string,
    options?: { start?: number; end?: number },
  ): Promise<S3rverObject | null> {
    if (options?.start === undefined && options?.end === undefined)
      return super.getObject(bucket, key, options);
    let size: number;
    try {
      size = Number((await this.getMetadata(bucket, key))['content-length']);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    // s3rver would answer `Content-Range: bytes 0-0/0` with no byte to send; serve it whole instead.
    if (size === 0) return super.getObject(bucket, key);
    if (options.end !== 0 || (options.start ?? 0) !== 0) return super.getObject(bucket, key, options);
    const object = await super.getObject(bucket, key, { start: 0 });
    if (object?.content && !Buffer.isBuffer(object.content)) {
      object.content.destroy();
      object.content = createReadStream(this.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  }
}
