import type { Digest } from './content.ts';

/** Caller-settable object attributes, taken from upload metadata. */
export interface ObjectAttrs {
  contentType: string;
  contentEncoding?: string;
  cacheControl?: string;
  metadata?: Record<string, string>;
}

/** What the emulator keeps on disk beside each object's bytes. */
export interface StoredObject extends ObjectAttrs, Digest {
  bucket: string;
  name: string;
  generation: number;
  metageneration: number;
  timeCreated: string;
  updated: string;
}

export interface StoredBucket {
  name: string;
  timeCreated: string;
  location: string;
  storageClass: string;
}

/** The JSON API object resource. `size` and `generation` are strings, as on real GCS. */
export function objectResource(obj: StoredObject, base: string): Record<string, unknown> {
  const encoded = encodeURIComponent(obj.name);
  const bucket = encodeURIComponent(obj.bucket);
  return {
    kind: 'storage#object',
    id: `${obj.bucket}/${obj.name}/${obj.generation}`,
    selfLink: `${base}/storage/v1/b/${bucket}/o/${encoded}`,
    mediaLink: `${base}/download/storage/v1/b/${bucket}/o/${encoded}?generation=${obj.generation}&alt=media`,
    name: obj.name,
    bucket: obj.bucket,
    generation: String(obj.generation),
    metageneration: String(obj.metageneration),
    contentType: obj.contentType,
    ...(obj.contentEncoding ? { contentEncoding: obj.contentEncoding } : {}),
    ...(obj.cacheControl ? { cacheControl: obj.cacheControl } : {}),
    storageClass: 'STANDARD',
    size: String(obj.size),
    md5Hash: obj.md5Hash,
    crc32c: obj.crc32c,
    etag: etag(obj),
    timeCreated: obj.timeCreated,
    updated: obj.updated,
    timeStorageClassUpdated: obj.timeCreated,
    ...(obj.metadata && Object.keys(obj.metadata).length > 0 ? { metadata: obj.metadata } : {}),
  };
}

export function etag(obj: StoredObject): string {
  return Buffer.from(`${obj.generation}/${obj.metageneration}`).toString('base64');
}

export function bucketResource(bucket: StoredBucket, base: string): Record<string, unknown> {
  return {
    kind: 'storage#bucket',
    id: bucket.name,
    selfLink: `${base}/storage/v1/b/${encodeURIComponent(bucket.name)}`,
    projectNumber: '0',
    name: bucket.name,
    timeCreated: bucket.timeCreated,
    updated: bucket.timeCreated,
    metageneration: '1',
    location: bucket.location,
    locationType: 'region',
    storageClass: bucket.storageClass,
    etag: 'CAE=',
  };
}

/** Turns upload metadata JSON into attributes, ignoring fields the emulator does not model. */
export function attrsFromMetadata(
  meta: Record<string, unknown>,
  fallbackType: string | undefined,
): ObjectAttrs {
  const attrs: ObjectAttrs = {
    contentType: stringField(meta.contentType) ?? fallbackType ?? 'application/octet-stream',
  };
  const encoding = stringField(meta.contentEncoding);
  if (encoding) attrs.contentEncoding = encoding;
  const cache = stringField(meta.cacheControl);
  if (cache) attrs.cacheControl = cache;
  if (typeof meta.metadata === 'object' && meta.metadata !== null) {
    const custom: Record<string, string> = {};
    for (const [k, v] of Object.entries(meta.metadata)) {
      if (v !== null && v !== undefined) custom[k] = String(v);
    }
    attrs.metadata = custom;
  }
  return attrs;
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
