/**
 * The pack object: many small blobs in one write-once object, so a host of 100,000 small files
 * costs a few dozen PUTs, not 100,000. Like restic's packs it carries its own index, at its end:
 *
 *   <blob bytes><blob bytes>…<index JSON><magic "FBPACK01"><index length, uint64 big-endian>
 *
 * The index lists every blob: its sha256 (which is also its id), offset and length. A pack is
 * stored under the sha256 of all its bytes (layout.packKey), so reading a pack whole proves it,
 * and a range read of one blob is proved by the blob's own sha256. The index is untrusted input
 * on the way back: parsePackIndex refuses anything out of bounds, overlapping or malformed.
 */
import { PermanentError } from '../errors.ts';
import { SHA256_HEX } from '../integrity.ts';

export const PACK_FORMAT = 'fleet-backup.pack/1';
const MAGIC = Buffer.from('FBPACK01', 'latin1');
/** Magic plus the index length. */
export const PACK_FOOTER_BYTES = 16;
/** An index this long would describe about a million blobs: far beyond any pack we write. */
export const MAX_PACK_INDEX_BYTES = 64 << 20;

/** Where one blob sits inside a pack. */
export interface PackEntry {
  sha256: string;
  offset: number;
  length: number;
}

/** The index and footer that end a pack whose blobs are `entries` (in the order written). */
export function packTrailer(entries: readonly PackEntry[]): Buffer {
  const json = packIndexJson(entries);
  const trailer = Buffer.allocUnsafe(Buffer.byteLength(json) + PACK_FOOTER_BYTES);
  writeTrailer(json, trailer, 0);
  return trailer;
}

/**
 * Writes the trailer of a pack whose blobs are `entries` into `into` at `at`, where it must fit
 * (packTrailerBytes says how much room it takes); returns its length.
 */
export function writePackTrailer(entries: readonly PackEntry[], into: Buffer, at: number): number {
  const json = packIndexJson(entries);
  const length = Buffer.byteLength(json) + PACK_FOOTER_BYTES;
  if (at + length > into.length)
    throw new RangeError(`a pack trailer of ${length} bytes does not fit at ${at}`);
  writeTrailer(json, into, at);
  return length;
}

/** The trailer's length for an index with no blobs: packTrailerBytes adds each entry's. */
export const EMPTY_PACK_TRAILER_BYTES = Buffer.byteLength(packIndexJson([])) + PACK_FOOTER_BYTES;

/**
 * Bytes one entry adds to the trailer: its JSON, and the comma before it unless it is the first.
 * Summed over the entries on top of EMPTY_PACK_TRAILER_BYTES, this is packTrailer's length.
 */
export function packEntryBytes(entry: PackEntry, first: boolean): number {
  return Buffer.byteLength(JSON.stringify(entry)) + (first ? 0 : 1);
}

function packIndexJson(entries: readonly PackEntry[]): string {
  return JSON.stringify({ format: PACK_FORMAT, blobs: entries });
}

function writeTrailer(json: string, into: Buffer, at: number): void {
  const indexLength = into.write(json, at, 'utf8');
  const footer = at + indexLength;
  MAGIC.copy(into, footer);
  into.writeBigUInt64BE(BigInt(indexLength), footer + 8);
}

/** Where a pack was read, for messages. */
export interface PackWhere {
  target: string;
  key: string;
}

function corrupt(where: PackWhere, what: string): PermanentError {
  return new PermanentError(`pack ${where.key} on target ${where.target} is corrupt: ${what}`, where);
}

/** The index length a pack's last 16 bytes announce, checked against the pack's size. */
export function parsePackFooter(footer: Buffer, packSize: number, where: PackWhere): number {
  if (footer.length !== PACK_FOOTER_BYTES || !footer.subarray(0, 8).equals(MAGIC))
    throw corrupt(where, 'no pack footer (wrong magic)');
  const length = footer.readBigUInt64BE(8);
  if (length > BigInt(Math.min(MAX_PACK_INDEX_BYTES, packSize - PACK_FOOTER_BYTES)))
    throw corrupt(where, `index length ${length} does not fit in ${packSize} bytes`);
  return Number(length);
}

/**
 * Parses a pack's index (the bytes between its blobs and its footer) and checks every entry: a
 * lowercase sha256, integer bounds inside the blob area (`dataBytes`, everything before the
 * index), blobs in offset order without overlap, and no sha256 twice.
 */
export function parsePackIndex(bytes: Buffer, dataBytes: number, where: PackWhere): PackEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw corrupt(where, 'index is not JSON');
  }
  const { format, blobs } = (json ?? {}) as { format?: unknown; blobs?: unknown };
  if (format !== PACK_FORMAT) throw corrupt(where, `unknown format ${JSON.stringify(format)}`);
  if (!Array.isArray(blobs)) throw corrupt(where, 'index has no blob list');
  const seen = new Set<string>();
  let end = 0;
  return blobs.map((raw: unknown, i) => {
    const entry = checkedEntry(raw);
    if (!entry) throw corrupt(where, `index entry ${i} is malformed`);
    if (entry.offset < end || entry.offset + entry.length > dataBytes)
      throw corrupt(where, `blob ${entry.sha256} lies outside its place (offset ${entry.offset})`);
    if (seen.has(entry.sha256)) throw corrupt(where, `blob ${entry.sha256} is listed twice`);
    seen.add(entry.sha256);
    end = entry.offset + entry.length;
    return entry;
  });
}

function checkedEntry(raw: unknown): PackEntry | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { sha256, offset, length, ...rest } = raw as Record<string, unknown>;
  const ok =
    Object.keys(rest).length === 0 &&
    typeof sha256 === 'string' &&
    SHA256_HEX.test(sha256) &&
    Number.isSafeInteger(offset) &&
    (offset as number) >= 0 &&
    Number.isSafeInteger(length) &&
    (length as number) >= 0;
  return ok ? { sha256, offset: offset as number, length: length as number } : undefined;
}
