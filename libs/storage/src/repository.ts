import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { AlreadyExistsError, NotFoundError, PermanentError } from './errors.ts';
import { hashStream } from './integrity.ts';
import { blobKey, listingKey, manifestKey } from './layout.ts';
import { applySegments, parseSegment } from './listing.ts';
import {
  assertValidManifest,
  type Manifest,
  manifestChunks,
  manifestText,
  parseManifest,
  storedJsonStream,
} from './manifest.ts';
import type { ObjectInfo, ReadOnlyTarget, StorageTarget } from './target.ts';

/** Manifests are small; a larger object under a manifest key is not one and is not read into memory. */
const MAX_MANIFEST_BYTES = 64 << 20;

/** The object's info, or undefined when it does not exist. */
async function headOrUndefined(target: ReadOnlyTarget, key: string): Promise<ObjectInfo | undefined> {
  try {
    return await target.head(key);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * What the target holds under a key, asked the way the credential allows: a head; or, for a
 * create-only view (an agent's), not at all: the put that follows is a create, and `created`
 * tells whether it found the key taken.
 */
export async function existingObject(target: StorageTarget, key: string): Promise<ObjectInfo | undefined> {
  return target.writeOnly ? undefined : headOrUndefined(target, key);
}

/** Awaits a put; false when it was a create (ifAbsent) that found the key taken and wrote nothing. */
export async function created(put: Promise<void>): Promise<boolean> {
  try {
    await put;
    return true;
  } catch (err) {
    if (err instanceof AlreadyExistsError) return false;
    throw err;
  }
}

/** Reads a whole object into memory (for small objects such as manifests). */
export async function readObject(
  target: ReadOnlyTarget,
  key: string,
  maxBytes = MAX_MANIFEST_BYTES,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of await target.get(key)) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) {
      throw new PermanentError(`${key} on target ${target.name} is larger than ${maxBytes} bytes`, {
        target: target.name,
        key,
      });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Throws PermanentError when a blob's stored size or checksum contradicts the sha256 in its key. */
function assertBlobMatches(target: StorageTarget, info: ObjectInfo, sha256: string, size: number): void {
  const stored = info.checksums?.sha256;
  if (info.size === size && (stored === undefined || stored === sha256)) return;
  const found = `${info.size} bytes${stored ? `, sha256 ${stored}` : ''}`;
  throw new PermanentError(
    `blob ${info.key} on target ${target.name} holds other bytes (${found}; expected ${size} bytes): ` +
      'content-addressed objects are never overwritten, so verify and delete it by hand before retrying',
    { target: target.name, key: info.key },
  );
}

/** True when the blob with this sha256 exists on the target with the expected size. */
export async function hasBlob(target: StorageTarget, sha256: string, size: number): Promise<boolean> {
  const info = await headOrUndefined(target, blobKey(sha256));
  return info !== undefined && info.size === size;
}

/**
 * Uploads a blob unless it is already there, so a job that runs twice transfers the bytes once.
 * `open` is only called when an upload is needed, and again for each retried attempt. An existing
 * object with another size is never overwritten: that is corruption for an operator to look at,
 * reported as PermanentError.
 */
export async function putBlobIfAbsent(
  target: StorageTarget,
  sha256: string,
  size: number,
  open: () => Readable,
): Promise<{ uploaded: boolean }> {
  const key = blobKey(sha256);
  const existing = await existingObject(target, key);
  if (existing !== undefined) {
    assertBlobMatches(target, existing, sha256, size);
    return { uploaded: false };
  }
  // The factory, not one stream: a retrying target opens the bytes again for another attempt.
  return { uploaded: await created(target.put(key, open, { sha256, size })) };
}

/**
 * Writes a backup's manifest once. Rewriting the same manifest is a no-op (a retried job);
 * a different manifest under the same key is a PermanentError, since objects are never
 * overwritten with other bytes. Two different writers racing on one key are not detected.
 * Returns the sha256 of the manifest's bytes. An agent's create-only view cannot read what it
 * finds there: it returns the sha256 it meant to write, and the pool's verify, which reads the
 * manifest against it, finds a different one corrupt and has it written again (repair).
 * The bytes are never held whole: they are made once to hash them, and again as they are sent
 * (and for each retried attempt), so memory stays bounded whatever the number of files.
 */
export async function writeManifest(
  target: StorageTarget,
  manifest: Manifest,
): Promise<{ written: boolean; sha256: string }> {
  const key = manifestKey(manifest.host, manifest.key);
  const where = { target: target.name, key };
  assertValidManifest(manifest, where);
  const body = () => storedJsonStream(manifest);
  const { sha256, size } = await hashStream(body());
  const existing = await existingObject(target, key);
  if (existing !== undefined) {
    // The same manifest, whatever zlib (or none, before manifests were compressed) stored it.
    const stored = await readObject(target, key);
    const text = manifestText(stored, where);
    const same =
      sha256Hex(stored) === sha256 ||
      sha256Hex(text) === (await hashStream(Readable.from(manifestChunks(manifest)))).sha256;
    if (same) return { written: false, sha256: sha256Hex(stored) };
    throw new PermanentError(
      `manifest ${key} already exists on target ${target.name} with different content; ` +
        'a backup key is written once: use a new backup key or delete the old manifest deliberately',
      { target: target.name, key },
    );
  }
  return { written: await created(target.put(key, body, { sha256, size })), sha256 };
}

/**
 * One backup's manifest with its files and nodes in it: a manifest that keeps them in listing
 * segments gets them from those, each checked against its sha256. NotFoundError when the manifest
 * or a segment is absent, PermanentError when one is corrupt.
 */
export async function readListedManifest(
  target: ReadOnlyTarget,
  host: string,
  backupKey: string,
): Promise<Manifest> {
  const { listing, ...manifest } = await readManifest(target, host, backupKey);
  if (!listing) return manifest;
  const segments = [];
  for (const sha256 of listing) {
    const key = listingKey(host, sha256);
    segments.push(
      parseSegment(await readSegment(target, key, host, backupKey), sha256, { target: target.name, key }),
    );
  }
  return {
    ...manifest,
    ...applySegments(segments, { target: target.name, key: manifestKey(host, backupKey) }),
  };
}

/**
 * A listing segment's bytes. One missing while its manifest is there is a corrupt copy
 * (PermanentError); NotFoundError only when the manifest is gone too (removed meanwhile).
 */
async function readSegment(target: ReadOnlyTarget, key: string, host: string, backupKey: string) {
  try {
    return await readObject(target, key);
  } catch (err) {
    if (!(err instanceof NotFoundError) || !(await headOrUndefined(target, manifestKey(host, backupKey))))
      throw err;
    throw new PermanentError(
      `listing segment ${key} on target ${target.name} is missing: the copy is corrupt`,
      {
        target: target.name,
        key,
        cause: err,
      },
    );
  }
}

/** Reads and validates one backup's manifest; NotFoundError when it is absent, PermanentError when corrupt. */
export async function readManifest(
  target: ReadOnlyTarget,
  host: string,
  backupKey: string,
): Promise<Manifest> {
  const key = manifestKey(host, backupKey);
  const manifest = parseManifest(await readObject(target, key), { target: target.name, key });
  if (manifest.host !== host || manifest.key !== backupKey) {
    throw new PermanentError(
      `manifest ${key} on target ${target.name} describes ${manifest.host}/${manifest.key}, not ${host}/${backupKey}`,
      { target: target.name, key },
    );
  }
  return manifest;
}

/** Every object under a prefix, in key order, fetching pages as the caller iterates. */
export async function* listAll(
  target: Pick<ReadOnlyTarget, 'name' | 'list'>,
  prefix: string,
  pageSize?: number,
): AsyncGenerator<ObjectInfo> {
  let cursor: string | undefined;
  do {
    const opts = {
      ...(cursor !== undefined && { cursor }),
      ...(pageSize !== undefined && { limit: pageSize }),
    };
    const page = await target.list(prefix, opts);
    yield* page.objects;
    if (page.next !== undefined && page.next === cursor) {
      // A target that hands back the same cursor would loop forever; fail loudly instead.
      throw new PermanentError(`target ${target.name} returned the same list cursor twice for ${prefix}`, {
        target: target.name,
      });
    }
    cursor = page.next;
  } while (cursor !== undefined);
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
