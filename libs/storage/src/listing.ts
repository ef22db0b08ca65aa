import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { PermanentError } from './errors.ts';
import {
  type Manifest,
  ManifestFileSchema,
  ManifestNodeSchema,
  type ManifestWhere,
  storedJson,
  storedJsonStream,
} from './manifest.ts';

export const LISTING_FORMAT = 'fleet-backup.listing/1';

/**
 * One segment of a backup's listing: files and nodes added or changed since the segments before
 * it, and the stored paths and node paths gone since. The first segment of a chain is full (it
 * removes nothing); each later backup adds the changes since the backup before it, so a daily
 * where 1% of the files changed stores 1% of a listing, not all of it (restic stores trees by
 * content for the same reason). Stored gzipped under its sha256, written once.
 */
export const ListingSegmentSchema = z.strictObject({
  format: z.literal(LISTING_FORMAT),
  files: z.record(z.string(), ManifestFileSchema),
  nodes: z.record(z.string(), ManifestNodeSchema),
  removedFiles: z.array(z.string()),
  removedNodes: z.array(z.string()),
});

export type ListingSegment = z.infer<typeof ListingSegmentSchema>;

/** A backup's files and nodes, as a manifest lists them. */
export interface Listing {
  files: Manifest['files'];
  nodes: NonNullable<Manifest['nodes']>;
}

/** The whole listing as one segment: the first of a chain. */
export function fullSegment(listing: Listing): ListingSegment {
  return { format: LISTING_FORMAT, ...listing, removedFiles: [], removedNodes: [] };
}

/** The segment that turns listing `from` into `to`: what differs, byte for byte, and what is gone. */
export function deltaSegment(from: Listing, to: Listing): ListingSegment {
  const changed = <T>(a: Record<string, T>, b: Record<string, T>) => {
    const out: Record<string, T> = {};
    for (const [k, v] of Object.entries(b))
      if (!Object.hasOwn(a, k) || !isDeepStrictEqual(a[k], v)) out[k] = v;
    return out;
  };
  const gone = (a: object, b: object) => Object.keys(a).filter((k) => !Object.hasOwn(b, k));
  return {
    format: LISTING_FORMAT,
    files: changed(from.files, to.files),
    nodes: changed(from.nodes, to.nodes),
    removedFiles: gone(from.files, to.files),
    removedNodes: gone(from.nodes, to.nodes),
  };
}

/**
 * Applies segments in order. A segment that removes what is not there, or a chain that does not
 * start with a full segment, is corrupt or crafted: PermanentError, never a guess.
 */
export function applySegments(segments: Iterable<ListingSegment>, where: ManifestWhere): Listing {
  const files = new Map<string, Manifest['files'][string]>();
  const nodes = new Map<string, NonNullable<Manifest['nodes']>[string]>();
  let first = true;
  for (const s of segments) {
    if (first && (s.removedFiles.length || s.removedNodes.length))
      throw badChain(where, 'its first listing segment removes entries: it is not a full listing');
    first = false;
    for (const k of s.removedFiles) if (!files.delete(k)) throw badChain(where, `removes ${k}, not listed`);
    for (const k of s.removedNodes) if (!nodes.delete(k)) throw badChain(where, `removes ${k}, not listed`);
    for (const [k, v] of Object.entries(s.files)) files.set(k, v);
    for (const [k, v] of Object.entries(s.nodes)) nodes.set(k, v);
  }
  if (first) throw badChain(where, 'it has no listing segment');
  return { files: Object.fromEntries(files), nodes: Object.fromEntries(nodes) };
}

function badChain(where: ManifestWhere, why: string): PermanentError {
  return new PermanentError(`manifest ${where.key} on target ${where.target}: ${why} (corrupt or crafted)`, {
    target: where.target,
    key: where.key,
  });
}

/**
 * A segment's stored bytes (canonical JSON, gzipped with fixed settings) and their sha256, its
 * name. The JSON is gzipped as it is made, never held whole: a full listing of 100,000 files is
 * about 36 MB of it, and 5 MB stored.
 */
export async function storedSegment(segment: ListingSegment): Promise<{ bytes: Buffer; sha256: string }> {
  const bytes = Buffer.concat(await storedJsonStream(segment).toArray());
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * A segment this installation made, as Postgres keeps it: checked against its sha256, then only
 * unpacked. The schema's pass copies every entry, and a 100,000-file listing is chained on every
 * daily: what was valid when it was made is valid now.
 */
export function ownSegment(bytes: Buffer, sha256: string): ListingSegment {
  const found = createHash('sha256').update(bytes).digest('hex');
  if (found !== sha256)
    throw new Error(`listing segment ${sha256} kept in the catalog holds other bytes (${found})`);
  return JSON.parse(gunzipSync(bytes).toString('utf8')) as ListingSegment;
}

/**
 * Parses a stored segment, checking first that its bytes hash to the name it was read under: a
 * segment is content-addressed, so other bytes are rot or a swap, never a newer version.
 */
export function parseSegment(bytes: Buffer, sha256: string, where: ManifestWhere): ListingSegment {
  const found = createHash('sha256').update(bytes).digest('hex');
  if (found !== sha256)
    throw new PermanentError(
      `listing segment ${where.key} on target ${where.target} holds other bytes (sha256 ${found}): corrupt`,
      { target: where.target, key: where.key },
    );
  const parsed = ListingSegmentSchema.safeParse(storedJson(bytes, where, 'listing segment'));
  if (!parsed.success)
    throw new PermanentError(
      `invalid listing segment ${where.key} on target ${where.target}: ${z.prettifyError(parsed.error)}`,
      { target: where.target, key: where.key, cause: parsed.error },
    );
  return parsed.data;
}
