import { KEY_ID } from './keyring.ts';

/**
 * The stored form of a sensitive file (AES-256-GCM, streamed):
 *
 *   magic "FBENC" | version 1 (1 byte) | key id length (1 byte) | key id (ASCII) | IV (12 bytes)
 *   ciphertext (as long as the plaintext)
 *   GCM tag (16 bytes)
 *
 * The whole header is the GCM additional authenticated data, so a header edited to name another
 * key or version fails the tag check like edited ciphertext does. The tag sits at the end so the
 * file can be written in one pass without knowing the plaintext's length in advance.
 */
export const MAGIC = Buffer.from('FBENC', 'latin1');
export const FORMAT_VERSION = 1;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const CIPHER = 'aes-256-gcm';

/** The header for a key id and IV. */
export function encodeHeader(keyId: string, iv: Buffer): Buffer {
  const id = Buffer.from(keyId, 'latin1');
  return Buffer.concat([MAGIC, Buffer.from([FORMAT_VERSION, id.length]), id, iv]);
}

export interface Header {
  keyId: string;
  iv: Buffer;
  /** The header's bytes, authenticated with the ciphertext. */
  bytes: Buffer;
}

const notOurs = { invalid: 'not in the fleet-backup encryption format (bad magic bytes)' };

/** Length of the fixed part before the key id: magic, version, id length. */
const FIXED = MAGIC.length + 2;

/**
 * Decodes a header from the start of `buf`: the header, 'short' when more bytes are needed, or a
 * description of why these bytes are not this format.
 */
export function decodeHeader(buf: Buffer): Header | 'short' | { invalid: string } {
  const magicSeen = Math.min(buf.length, MAGIC.length);
  if (!buf.subarray(0, magicSeen).equals(MAGIC.subarray(0, magicSeen))) return notOurs;
  if (buf.length < FIXED) return 'short';
  const version = buf[MAGIC.length];
  if (version !== FORMAT_VERSION) return { invalid: `unknown encryption format version ${version}` };
  const idLength = buf[MAGIC.length + 1] ?? 0;
  const end = FIXED + idLength + IV_BYTES;
  if (buf.length < end) return 'short';
  const keyId = buf.subarray(FIXED, FIXED + idLength).toString('latin1');
  if (!KEY_ID.test(keyId)) return { invalid: 'the header names no valid key id' };
  return {
    keyId,
    iv: Buffer.from(buf.subarray(FIXED + idLength, end)),
    bytes: Buffer.from(buf.subarray(0, end)),
  };
}
