/**
 * The object layout every target shares. It is self-describing on purpose: a restore can start
 * from a bucket alone (list hosts/, read a manifest, fetch its blobs) with no database at hand.
 *
 *   blobs/sha256/<aa>/<sha256>                 a file's contents, content-addressed, written once
 *   packs/<aa>/<sha256>                        many small blobs and their index (packs/pack-format.ts),
 *                                              under the sha256 of the whole pack, written once
 *   hosts/<host>/<backupKey>/manifest.json     one backup: its seed metadata entry, and its files
 *                                              or the listing segments that hold them
 *   hosts/<host>/listings/<sha256>             one listing segment (storage/listing.ts), written once
 */
import { PermanentError } from './errors.ts';
import { SHA256_HEX } from './integrity.ts';
import { keyProblem } from './keys.ts';

export const BLOBS_PREFIX = 'blobs/sha256/';
export const PACKS_PREFIX = 'packs/';
export const HOSTS_PREFIX = 'hosts/';
export const MANIFEST_NAME = 'manifest.json';
/** Not a backup key (those start with a date), so it cannot clash with one. */
export const LISTINGS_DIR = 'listings';

/** Layout errors are caller bugs or corrupt data, never target failures: no target to name. */
function layoutError(message: string): PermanentError {
  return new PermanentError(message, { target: '' });
}

/** Throws PermanentError unless `sha256` is 64 lowercase hex digits. */
export function assertSha256(sha256: string): void {
  if (!SHA256_HEX.test(sha256)) throw layoutError(`not a lowercase hex sha256: ${JSON.stringify(sha256)}`);
}

/** Throws PermanentError unless `value` can be one key segment (no '/', not '', '.' or '..'). */
function assertSegment(what: string, value: string): void {
  const problem = value.includes('/') ? 'contains "/"' : keyProblem(value);
  if (problem !== undefined) throw layoutError(`invalid ${what} ${JSON.stringify(value)}: it ${problem}`);
}

/** Key of the blob holding the bytes whose sha256 is given: `blobs/sha256/<first 2 hex>/<sha256>`. */
export function blobKey(sha256: string): string {
  assertSha256(sha256);
  return `${BLOBS_PREFIX}${sha256.slice(0, 2)}/${sha256}`;
}

/** The sha256 a blob key names, or undefined when the key is not a blob key. */
export function parseBlobKey(key: string): string | undefined {
  const sha256 = /^blobs\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key)?.[1];
  return sha256 !== undefined && key === blobKey(sha256) ? sha256 : undefined;
}

/** Key of the pack whose bytes have this sha256: `packs/<first 2 hex>/<sha256>`. */
export function packKey(sha256: string): string {
  assertSha256(sha256);
  return `${PACKS_PREFIX}${sha256.slice(0, 2)}/${sha256}`;
}

/** The sha256 a pack key names, or undefined when the key is not a pack key. */
export function parsePackKey(key: string): string | undefined {
  const sha256 = /^packs\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(key)?.[1];
  return sha256 !== undefined && key === packKey(sha256) ? sha256 : undefined;
}

/** Prefix of every object of one host: `hosts/<host>/`. */
export function hostPrefix(host: string): string {
  assertSegment('host', host);
  return `${HOSTS_PREFIX}${host}/`;
}

/** Prefix of one backup's objects: `hosts/<host>/<backupKey>/`. */
export function backupPrefix(host: string, backupKey: string): string {
  assertSegment('backup key', backupKey);
  return `${hostPrefix(host)}${backupKey}/`;
}

/** Key of one backup's manifest: `hosts/<host>/<backupKey>/manifest.json`. */
export function manifestKey(host: string, backupKey: string): string {
  return `${backupPrefix(host, backupKey)}${MANIFEST_NAME}`;
}

/** Host and backup key of a manifest key (as found when listing hosts/), or undefined if it is not one. */
export function parseManifestKey(key: string): { host: string; backupKey: string } | undefined {
  const parts = key.split('/');
  if (parts.length !== 4 || parts[0] !== 'hosts' || parts[3] !== MANIFEST_NAME) return undefined;
  const [, host, backupKey] = parts;
  if (host === undefined || backupKey === undefined || keyProblem(key) !== undefined) return undefined;
  return { host, backupKey };
}

/** Key of one of a host's listing segments: `hosts/<host>/listings/<sha256>`. */
export function listingKey(host: string, sha256: string): string {
  assertSha256(sha256);
  return `${hostPrefix(host)}${LISTINGS_DIR}/${sha256}`;
}
