import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from './content.ts';
import { HttpError } from './http.ts';
import { checkPreconditions, type Preconditions } from './preconditions.ts';
import type { ObjectAttrs, StoredBucket, StoredObject } from './resources.ts';

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** Byte order of the UTF-8 names, which is how GCS lists. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

interface BucketState {
  bucket: StoredBucket;
  objects: Map<string, StoredObject>;
  sorted: string[] | undefined;
}

/**
 * Buckets and objects on disk. Each object is `<sha256(name)>.json` (its metadata) plus
 * `<sha256(name)>.<generation>.data` (its bytes), so a replaced object never changes bytes under a
 * reader that already holds the old generation. An in-memory index, rebuilt from the JSON files
 * at start, answers lookups and listings.
 */
export class GcsStore {
  readonly dir: string;
  private readonly buckets = new Map<string, BucketState>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private lastGeneration = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async open(dir: string): Promise<GcsStore> {
    const store = new GcsStore(dir);
    await mkdir(join(dir, 'buckets'), { recursive: true });
    await mkdir(join(dir, 'uploads'), { recursive: true });
    // Temp files belong to requests that died with the previous process.
    await rm(join(dir, 'tmp'), { recursive: true, force: true });
    await mkdir(join(dir, 'tmp'), { recursive: true });
    for (const name of await readdir(join(dir, 'buckets'))) await store.loadBucket(name);
    return store;
  }

  private async loadBucket(name: string): Promise<void> {
    const bucketDir = join(this.dir, 'buckets', name);
    let bucket: StoredBucket;
    try {
      bucket = JSON.parse(await readFile(join(bucketDir, 'bucket.json'), 'utf8')) as StoredBucket;
    } catch {
      return;
    }
    const objects = new Map<string, StoredObject>();
    const files = await readdir(join(bucketDir, 'objects'));
    const live = new Set<string>();
    for (const file of files.filter((f) => f.endsWith('.json'))) {
      const obj = JSON.parse(await readFile(join(bucketDir, 'objects', file), 'utf8')) as StoredObject;
      objects.set(obj.name, obj);
      live.add(this.dataFile(obj));
      this.lastGeneration = Math.max(this.lastGeneration, obj.generation);
    }
    // Data files without metadata were left by a commit interrupted between its two renames.
    for (const file of files.filter((f) => f.endsWith('.data'))) {
      const path = join(bucketDir, 'objects', file);
      if (!live.has(path)) await rm(path, { force: true });
    }
    this.buckets.set(name, { bucket, objects, sorted: undefined });
  }

  async createBucket(name: string, location = 'US', storageClass = 'STANDARD'): Promise<StoredBucket> {
    if (!BUCKET_NAME.test(name)) throw new HttpError(400, `Invalid bucket name: '${name}'`, 'invalid');
    if (this.buckets.has(name)) {
      throw new HttpError(
        409,
        'Your previous request to create the named bucket succeeded and you already own it.',
        'conflict',
      );
    }
    const bucket: StoredBucket = { name, timeCreated: new Date().toISOString(), location, storageClass };
    const bucketDir = join(this.dir, 'buckets', name);
    await mkdir(join(bucketDir, 'objects'), { recursive: true });
    await writeFile(join(bucketDir, 'bucket.json'), JSON.stringify(bucket));
    this.buckets.set(name, { bucket, objects: new Map(), sorted: undefined });
    return bucket;
  }

  getBucket(name: string): StoredBucket | undefined {
    return this.buckets.get(name)?.bucket;
  }

  listBuckets(): StoredBucket[] {
    return [...this.buckets.values()].map((b) => b.bucket).sort((a, b) => compareNames(a.name, b.name));
  }

  async deleteBucket(name: string): Promise<void> {
    const state = this.requireBucket(name);
    if (state.objects.size > 0)
      throw new HttpError(409, 'The bucket you tried to delete is not empty.', 'conflict');
    this.buckets.delete(name);
    await rm(join(this.dir, 'buckets', name), { recursive: true, force: true });
  }

  getObject(bucket: string, name: string): StoredObject | undefined {
    return this.requireBucket(bucket).objects.get(name);
  }

  /** Object names of a bucket in listing order; cached until the next write. */
  sortedNames(bucket: string): string[] {
    const state = this.requireBucket(bucket);
    state.sorted ??= [...state.objects.keys()].sort(compareNames);
    return state.sorted;
  }

  /** The file holding the bytes of this generation of the object. */
  dataFile(obj: StoredObject): string {
    return join(this.dir, 'buckets', obj.bucket, 'objects', `${nameId(obj.name)}.${obj.generation}.data`);
  }

  /** A fresh path for bytes still arriving; commit() renames it into place. */
  tmpFile(): string {
    return join(this.dir, 'tmp', randomBytes(12).toString('hex'));
  }

  /** Makes `file` the new generation of the object, if the preconditions hold when it lands. */
  async commit(
    bucket: string,
    name: string,
    file: string,
    digest: Digest,
    attrs: ObjectAttrs,
    pre: Preconditions,
  ): Promise<StoredObject> {
    const state = this.requireBucket(bucket);
    return this.withLock(`${bucket}\0${name}`, async () => {
      const current = state.objects.get(name);
      checkPreconditions(pre, current);
      const now = new Date().toISOString();
      const obj: StoredObject = {
        ...attrs,
        ...digest,
        bucket,
        name,
        generation: this.nextGeneration(),
        metageneration: 1,
        timeCreated: now,
        updated: now,
      };
      await rename(file, this.dataFile(obj));
      await this.writeMeta(obj);
      state.objects.set(name, obj);
      if (!current) state.sorted = undefined;
      if (current) await rm(this.dataFile(current), { force: true });
      return obj;
    });
  }

  async deleteObject(bucket: string, name: string, pre: Preconditions): Promise<void> {
    const state = this.requireBucket(bucket);
    await this.withLock(`${bucket}\0${name}`, async () => {
      const current = state.objects.get(name);
      if (!current) throw noSuchObject(bucket, name);
      checkPreconditions(pre, current);
      state.objects.delete(name);
      state.sorted = undefined;
      await unlink(this.metaFile(current));
      await rm(this.dataFile(current), { force: true });
    });
  }

  requireBucket(name: string): BucketState {
    const state = this.buckets.get(name);
    if (!state) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound');
    return state;
  }

  private metaFile(obj: StoredObject): string {
    return join(this.dir, 'buckets', obj.bucket, 'objects', `${nameId(obj.name)}.json`);
  }

  private async writeMeta(obj: StoredObject): Promise<void> {
    const tmp = this.tmpFile();
    await writeFile(tmp, JSON.stringify(obj));
    await rename(tmp, this.metaFile(obj));
  }

  private nextGeneration(): number {
    // Microseconds like GCS, strictly increasing even within one millisecond.
    this.lastGeneration = Math.max(Date.now() * 1000, this.lastGeneration + 1);
    return this.lastGeneration;
  }

  /** Serialises writers of one object name so a precondition check and its commit are atomic. */
  private async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}

/** Object names may be 1 KiB of any Unicode; their hash is always a safe file name. */
function nameId(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex');
}

export function noSuchObject(bucket: string, name: string): HttpError {
  return new HttpError(404, `No such object: ${bucket}/${name}`, 'notFound');
}
