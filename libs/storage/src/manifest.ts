import { pipeline, Readable } from 'node:stream';
import { createGzip, gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { canonicalJsonChunks } from './canonical-json.ts';
import { PermanentError } from './errors.ts';
import { SHA256_HEX } from './integrity.ts';
import { firstDuplicateKey } from './json-duplicates.ts';

export const MANIFEST_FORMAT = 'fleet-backup.manifest/1';

const sha256Hex = z.string().regex(SHA256_HEX, 'must be 64 lowercase hex digits');

const base64 = z.base64();

/** True when s holds NUL, another C0 control character or DEL: nothing a name may carry in clear text. */
const hasControl = (s: string) => [...s].some((c) => c.charCodeAt(0) < 0x20 || c === '\u007f');
const hasNul = (s: string) => s.includes('\u0000');

/** An owner's or group's name, as the host that was backed up knew it. */
const accountName = z
  .string()
  .min(1)
  .refine((s) => !hasControl(s), 'holds a control character')
  .nullable();

/** A key id as ENCRYPTION_KEY names it. */
const KEY_ID = /^[A-Za-z0-9._-]{1,32}$/;

const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** uid and gid are 32-bit on Linux; (uid_t)-1 means "unchanged" to chown, so it is no id. */
const unixId = z
  .number()
  .int()
  .nonnegative()
  .max(2 ** 32 - 2);

/** Linux caps an extended attribute's name at 255 bytes; a namespace prefix (`user.`…) is required. */
const xattrName = z
  .string()
  .regex(/^[a-z]+\.[^/]/, 'must be namespace.name')
  .refine((n) => !hasNul(n) && Buffer.byteLength(n) <= 255, 'holds NUL or is longer than 255 bytes');

/**
 * Mode, owner, mtime and extended attributes of an entry (libs/core FileAttributes): what a
 * restore applies besides the bytes. Optional on files: manifests written before they were
 * recorded have none.
 */
export const FileAttributesSchema = z.strictObject({
  mode: z.number().int().min(0).max(0o7777),
  uid: unixId,
  gid: unixId,
  owner: accountName,
  group: accountName,
  mtimeNs: z.string().regex(/^-?\d{1,20}$/, 'must be a decimal count of nanoseconds'),
  xattrs: z.record(xattrName, base64).optional(),
});

/** A directory or symlink of a backup, keyed by its path: it holds no bytes. */
export const ManifestNodeSchema = z
  .strictObject({
    type: z.enum(['dir', 'symlink']),
    /** A symlink's target as readlink gave it (never followed, so it may point anywhere; no NUL). */
    target: z
      .string()
      .min(1)
      .refine((t) => !hasNul(t), 'holds a NUL byte')
      .optional(),
    /** Raw bytes (base64) of the path or target when they are not valid UTF-8. */
    pathBytes: base64.optional(),
    targetBytes: base64.optional(),
    attrs: FileAttributesSchema,
  })
  .refine(
    (n) => (n.type === 'symlink') === (n.target !== undefined || n.targetBytes !== undefined),
    'a symlink has a target (target or targetBytes), a directory has none',
  );

/**
 * One stored file of a backup: where it came from and the blob that holds its bytes. `size` and
 * `sha256` are the file's own (as in backup_metadata.json); an encrypted (sensitive) file adds
 * its blob's `storedSha256` / `storedSize` and the `keyId` that decrypts it, so a restore from
 * the bucket alone, with the key, gets the plaintext back. The three come together or not at all.
 */
export const ManifestFileSchema = z
  .strictObject({
    /** Path of the file relative to the host's backup root, as in backup_metadata.json. */
    path: z.string().min(1),
    size,
    sha256: sha256Hex,
    storedSha256: sha256Hex.optional(),
    storedSize: size.optional(),
    keyId: z.string().regex(KEY_ID, 'must be 1-32 of [A-Za-z0-9._-]').optional(),
    /** Raw bytes (base64) of the path when it is not valid UTF-8 (`path` then shows `\xHH` escapes). */
    pathBytes: base64.optional(),
    attrs: FileAttributesSchema.optional(),
    /** A large file's stored bytes as content-defined chunks, in order: each a blob (in a pack). */
    chunks: z.array(sha256Hex).min(1).optional(),
    /** A database file's `has_wal` in backup_metadata.json; present exactly for database files. */
    hasWal: z.boolean().optional(),
  })
  .refine(
    (f) =>
      (f.storedSha256 === undefined) === (f.keyId === undefined) &&
      (f.storedSize === undefined) === (f.keyId === undefined),
    'storedSha256, storedSize and keyId come together',
  );

/**
 * A backup as stored on a target, enough to restore it without the database. Strict: a field
 * this version does not know is refused rather than ignored (a manifest is untrusted input).
 * Whether its paths are safe to restore is judged by the restore (libs/runtime), which applies
 * the same rules to the catalog's rows.
 */
/** A chain of listing segments is cut short long before this; more is a crafted manifest. */
export const MAX_LISTING_SEGMENTS = 64;

export const ManifestSchema = z
  .strictObject({
    format: z.literal(MANIFEST_FORMAT),
    host: z.string().min(1),
    kind: z.enum(['daily', 'pre_change', 'manual']),
    /** The backup key: `YYYYMMDD` or `YYYYMMDD_HHMM_description`. */
    key: z.string().min(1),
    created: z.iso.datetime({ offset: true }),
    /** Keyed by stored path. */
    files: z.record(z.string(), ManifestFileSchema),
    /** Directories and symlinks, keyed by path (as in the metadata); absent in older manifests. */
    nodes: z.record(z.string(), ManifestNodeSchema).optional(),
    /**
     * Where the files and nodes are when the manifest holds none itself: listing segments
     * (storage/listing.ts), a full one and then the changes of each later backup, applied in order.
     * A daily then stores what changed, not the whole tree again. Absent in older manifests.
     */
    listing: z.array(sha256Hex).min(1).max(MAX_LISTING_SEGMENTS).optional(),
    /**
     * The backup's backup_metadata.json entry without its `files`, which are the manifest's own:
     * `size`, `sha256` (as `hash`) and `hasWal` (as `has_wal`) of each. Manifests written before
     * 2026-12-07 keep the entry whole, files and all. Storage does not interpret it.
     */
    entry: z.unknown(),
  })
  .refine(
    (m) => m.listing === undefined || (Object.keys(m.files).length === 0 && m.nodes === undefined),
    'a manifest with a listing holds no files or nodes of its own',
  );

export type ManifestFile = z.infer<typeof ManifestFileSchema>;
export type ManifestNode = z.infer<typeof ManifestNodeSchema>;
export type Manifest = z.infer<typeof ManifestSchema>;
export type BackupKind = Manifest['kind'];

/** Where a manifest was read or written, for messages. */
export interface ManifestWhere {
  target: string;
  key: string;
}

function invalid(error: z.ZodError, where: ManifestWhere, verb: string): PermanentError {
  return new PermanentError(
    `${verb} manifest ${where.key} on target ${where.target}: ${z.prettifyError(error)}`,
    {
      target: where.target,
      key: where.key,
      cause: error,
    },
  );
}

/**
 * Refuses a manifest that is not valid, naming what is wrong. Its files and nodes are checked a
 * batch at a time: the schema's parse copies what it checks, and a manifest of a few hundred
 * thousand files must not be held twice.
 */
export function assertValidManifest(manifest: Manifest, where: ManifestWhere): void {
  const { files, nodes, ...head } = manifest;
  const check = (part: object) => {
    const parsed = ManifestSchema.safeParse({ ...head, files: {}, ...part });
    if (!parsed.success) throw invalid(parsed.error, where, 'refusing to write invalid');
  };
  check(nodes ? { nodes: {} } : {});
  for (const batch of batches(Object.entries(files))) check({ files: Object.fromEntries(batch) });
  for (const batch of batches(Object.entries(nodes ?? {}))) check({ nodes: Object.fromEntries(batch) });
}

function* batches<T>(items: T[], size = 1000): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * A manifest's canonical JSON bytes (the same manifest always gives the same bytes), in chunks of
 * about 64 KiB made as they are read: memory stays bounded whatever the number of files. Validate
 * it first (assertValidManifest).
 */
export function* manifestChunks(manifest: Manifest): Generator<Buffer> {
  for (const chunk of canonicalJsonChunks(manifest)) yield Buffer.from(chunk, 'utf8');
}

/**
 * How manifests are stored: their canonical JSON, gzipped. A daily's manifest lists every file
 * (about 360 bytes of JSON each, most of it repeated keys and attributes), and each copy's verify
 * reads it back whole; gzip keeps about a sixth. Level and header are fixed (Node writes mtime 0),
 * so the same manifest gives the same stored bytes, which a rewrite and a repair compare. Level 6:
 * 20,000 files in 72 ms to 1/6.66 of their JSON, where level 9 takes 185 ms for 1/6.70.
 */
const STORED_GZIP = { level: 6 };
/**
 * What a stored manifest may unpack to (about 400,000 files): beyond it, a crafted object (a gzip
 * bomb) is refused before it can take the reader's memory.
 */
export const MAX_MANIFEST_TEXT = 256 * 1024 * 1024;

/**
 * The stored bytes of a (validated) manifest, or of a listing segment, as a stream made as it is
 * read: canonical JSON, gzipped.
 */
export function storedJsonStream(value: unknown): Readable {
  const gzip = createGzip(STORED_GZIP);
  // pipeline, not pipe: an error making the JSON ends the stream read with that error.
  pipeline(Readable.from(canonicalJsonChunks(value), { objectMode: false }), gzip, () => {});
  return gzip;
}

/** Validates a manifest and makes its stored bytes, whole: for repairs, tests and small manifests. */
export function serializeManifest(manifest: Manifest, where: ManifestWhere): Buffer {
  assertValidManifest(manifest, where);
  return gzipSync(Buffer.concat([...manifestChunks(manifest)]), STORED_GZIP);
}

/**
 * A stored manifest's JSON text: gunzipped, or as it is for a manifest stored before they were
 * compressed (JSON cannot start with gzip's first byte, 0x1f). PermanentError when it does not
 * unpack.
 */
export function manifestText(bytes: Buffer, where: ManifestWhere): Buffer {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return gunzipSync(bytes, { maxOutputLength: MAX_MANIFEST_TEXT });
  } catch (err) {
    throw new PermanentError(
      `manifest ${where.key} on target ${where.target} does not unpack (corrupt?): ${(err as Error).message}`,
      { target: where.target, key: where.key, cause: err },
    );
  }
}

/**
 * The JSON value of a stored manifest or listing segment (gzipped or not): PermanentError when it
 * does not unpack, is not JSON, or repeats a key in one object (JSON.parse would keep the last
 * without a word, so a crafted object could show one entry and hide another).
 */
export function storedJson(stored: Buffer, where: ManifestWhere, what = 'manifest'): unknown {
  const text = manifestText(stored, where).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PermanentError(`${what} ${where.key} on target ${where.target} is not JSON (corrupt?)`, {
      target: where.target,
      key: where.key,
      cause: err,
    });
  }
  const duplicate = firstDuplicateKey(text);
  if (duplicate) {
    throw new PermanentError(
      `invalid ${what} ${where.key} on target ${where.target}: key ${JSON.stringify(duplicate.key)} appears twice in ${duplicate.at} (a crafted or corrupt ${what}); restore from another copy`,
      { target: where.target, key: where.key },
    );
  }
  return json;
}

/** Parses and validates manifest bytes; PermanentError when they are not a valid manifest. */
export function parseManifest(stored: Buffer, where: ManifestWhere): Manifest {
  const parsed = ManifestSchema.safeParse(storedJson(stored, where));
  if (!parsed.success) throw invalid(parsed.error, where, 'invalid');
  return parsed.data;
}
