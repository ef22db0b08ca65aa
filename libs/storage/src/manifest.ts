import { z } from 'zod';
import { canonicalJson } from './canonical-json.ts';
import { PermanentError } from './errors.ts';
import { SHA256_HEX } from './integrity.ts';

export const MANIFEST_FORMAT = 'fleet-backup.manifest/1';

const sha256Hex = z.string().regex(SHA256_HEX, 'must be 64 lowercase hex digits');

const base64 = z.base64();

/**
 * Mode, owner, mtime and extended attributes of an entry (libs/core FileAttributes): what a
 * restore applies besides the bytes. Optional on files: manifests written before they were
 * recorded have none.
 */
export const FileAttributesSchema = z.strictObject({
  mode: z.number().int().min(0).max(0o7777),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
  owner: z.string().min(1).nullable(),
  group: z.string().min(1).nullable(),
  mtimeNs: z.string().regex(/^-?\d{1,20}$/),
  xattrs: z.record(z.string().min(1), base64).optional(),
});

/** A directory or symlink of a backup, keyed by its path: it holds no bytes. */
export const ManifestNodeSchema = z.strictObject({
  type: z.enum(['dir', 'symlink']),
  /** A symlink's target as readlink gave it. */
  target: z.string().min(1).optional(),
  /** Raw bytes (base64) of the path or target when they are not valid UTF-8. */
  pathBytes: base64.optional(),
  targetBytes: base64.optional(),
  attrs: FileAttributesSchema,
});

/**
 * One stored file of a backup: where it came from and the blob that holds its bytes. `size` and
 * `sha256` are the file's own (as in backup_metadata.json); an encrypted (sensitive) file adds
 * its blob's `storedSha256` / `storedSize` and the `keyId` that decrypts it, so a restore from
 * the bucket alone, with the key, gets the plaintext back. The three come together or not at all.
 */
export const ManifestFileSchema = z
  .object({
    /** Path of the file relative to the host's backup root, as in backup_metadata.json. */
    path: z.string().min(1),
    size: z.number().int().nonnegative(),
    sha256: sha256Hex,
    storedSha256: sha256Hex.optional(),
    storedSize: z.number().int().nonnegative().optional(),
    keyId: z.string().min(1).optional(),
    /** Raw bytes (base64) of the path when it is not valid UTF-8 (`path` then shows `\xHH` escapes). */
    pathBytes: base64.optional(),
    attrs: FileAttributesSchema.optional(),
  })
  .refine(
    (f) =>
      (f.storedSha256 === undefined) === (f.keyId === undefined) &&
      (f.storedSize === undefined) === (f.keyId === undefined),
    'storedSha256, storedSize and keyId come together',
  );

/** A backup as stored on a target, enough to restore it without the database. */
export const ManifestSchema = z.object({
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
  /** The backup's backup_metadata.json entry, kept verbatim; storage does not interpret it. */
  entry: z.unknown(),
});

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

/** Validates a manifest and renders it as canonical JSON bytes: the same manifest always gives the same bytes. */
export function serializeManifest(manifest: Manifest, where: ManifestWhere): Buffer {
  const parsed = ManifestSchema.safeParse(manifest);
  if (!parsed.success) throw invalid(parsed.error, where, 'refusing to write invalid');
  return Buffer.from(canonicalJson(parsed.data), 'utf8');
}

/** Parses and validates manifest bytes; PermanentError when they are not a valid manifest. */
export function parseManifest(bytes: Buffer, where: ManifestWhere): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new PermanentError(`manifest ${where.key} on target ${where.target} is not JSON (corrupt?)`, {
      target: where.target,
      key: where.key,
      cause: err,
    });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) throw invalid(parsed.error, where, 'invalid');
  return parsed.data;
}
