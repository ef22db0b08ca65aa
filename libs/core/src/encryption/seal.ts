import { type CipherGCM, createCipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PermanentFailure } from '../errors.ts';
import { CIPHER, encodeHeader, IV_BYTES } from './format.ts';
import type { Keyring } from './keyring.ts';

/**
 * Encrypts one file with the keyring's current key, chunk by chunk, for callers that own their
 * read loop (the snapshot copy hashes the plaintext and the stored bytes in the same pass). A
 * fresh random IV per file: GCM must never see an IV twice under one key, and it also means the
 * same secret stored twice gives different bytes (no deduplication for secrets).
 */
export class Sealer {
  readonly keyId: string;
  readonly #cipher: CipherGCM;
  #header: Buffer | null;

  constructor(keyring: Keyring) {
    const keyId = keyring.currentId;
    const key = keyId === null ? undefined : keyring.keyFor(keyId);
    if (keyId === null || !key)
      throw new PermanentFailure('no encryption key configured: set ENCRYPTION_KEY to store sensitive files');
    this.keyId = keyId;
    const iv = randomBytes(IV_BYTES);
    this.#header = encodeHeader(keyId, iv);
    this.#cipher = createCipheriv(CIPHER, key, iv);
    this.#cipher.setAAD(this.#header);
  }

  /** The stored bytes for the next plaintext chunk (the header is emitted with the first). */
  update(plain: Buffer): Buffer {
    const out = this.#cipher.update(plain);
    return this.#withHeader(out);
  }

  /** The last stored bytes: whatever the cipher held back, then the 16-byte tag. */
  final(): Buffer {
    const rest = this.#cipher.final();
    return this.#withHeader(Buffer.concat([rest, this.#cipher.getAuthTag()]));
  }

  #withHeader(out: Buffer): Buffer {
    if (!this.#header) return out;
    const first = Buffer.concat([this.#header, out]);
    this.#header = null;
    return first;
  }
}

/** A Transform from plaintext to the stored (encrypted) form, with the keyring's current key. */
export function encryptStream(keyring: Keyring): Transform {
  const sealer = new Sealer(keyring);
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      done(null, sealer.update(chunk));
    },
    flush(done: TransformCallback) {
      done(null, sealer.final());
    },
  });
}
