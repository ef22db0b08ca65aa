import { createDecipheriv, type DecipherGCM } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { PermanentFailure } from '../errors.ts';
import { CIPHER, decodeHeader, TAG_BYTES } from './format.ts';
import type { Keyring } from './keyring.ts';

/**
 * The stored form of a file cannot be decrypted: its key is not configured, the bytes were
 * altered or truncated, or they are not in our format. No retry fixes it; `details` name the file
 * and, when known, the key id.
 */
export class DecryptionFailure extends PermanentFailure {}

/**
 * A Transform from the stored (encrypted) form back to plaintext. It holds back the last 16 bytes
 * (the tag) and fails at the end, with a DecryptionFailure naming `file`, when the tag does not
 * check. Plaintext flows out before that check, so whoever writes it must write to a temporary
 * name and rename only once the stream has ended without error.
 */
export function decryptStream(keyring: Keyring, file: string): Transform {
  return new DecryptStream(keyring, file);
}

class DecryptStream extends Transform {
  readonly #keyring: Keyring;
  readonly #file: string;
  #decipher: DecipherGCM | null = null;
  #keyId: string | null = null;
  /** Bytes of the header before it is complete, then the last bytes seen (the tag candidate). */
  #held: Buffer = Buffer.alloc(0);

  constructor(keyring: Keyring, file: string) {
    super({ highWaterMark: 1 << 20 });
    this.#keyring = keyring;
    this.#file = file;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      done(null, this.#next(chunk));
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      done(null, this.#finish());
    } catch (err) {
      done(err as Error);
    }
  }

  /** The plaintext for the next stored chunk (empty while the header is still coming in). */
  #next(chunk: Buffer): Buffer {
    if (this.#decipher) return this.#feed(this.#decipher, chunk);
    this.#held = Buffer.concat([this.#held, chunk]);
    const started = this.#start();
    if (!started) return Buffer.alloc(0);
    this.#held = Buffer.alloc(0);
    return this.#feed(started.decipher, started.rest);
  }

  /** The last plaintext, once the held-back tag checks. */
  #finish(): Buffer {
    if (!this.#decipher) throw this.#fail('the stored bytes end inside the encryption header (truncated)');
    if (this.#held.length < TAG_BYTES)
      throw this.#fail('the stored bytes end before the authentication tag (truncated)');
    try {
      this.#decipher.setAuthTag(this.#held);
      return this.#decipher.final();
    } catch {
      throw this.#fail(
        `authentication failed with key ${this.#keyId}: the stored bytes were altered or truncated, or key ${this.#keyId} is not the key they were encrypted with`,
      );
    }
  }

  /** Parses the header once enough bytes are in; returns the bytes after it, or null to wait. */
  #start(): { decipher: DecipherGCM; rest: Buffer } | null {
    const header = decodeHeader(this.#held);
    if (header === 'short') return null;
    if ('invalid' in header) throw this.#fail(header.invalid);
    const key = this.#keyring.keyFor(header.keyId);
    this.#keyId = header.keyId;
    if (!key) {
      throw this.#fail(
        `it is encrypted with key ${header.keyId}, which is not configured here; add that key to ENCRYPTION_KEY or ENCRYPTION_OLD_KEYS to restore it`,
      );
    }
    const decipher = createDecipheriv(CIPHER, key, header.iv);
    decipher.setAAD(header.bytes);
    this.#decipher = decipher;
    return { decipher, rest: this.#held.subarray(header.bytes.length) };
  }

  /** Decrypts all but the newest 16 bytes seen, which may be the tag. */
  #feed(decipher: DecipherGCM, chunk: Buffer): Buffer {
    const all = this.#held.length + chunk.length;
    if (all <= TAG_BYTES) {
      this.#held = Buffer.concat([this.#held, chunk]);
      return Buffer.alloc(0);
    }
    const release = all - TAG_BYTES;
    const fromHeld = Math.min(release, this.#held.length);
    const out = [decipher.update(this.#held.subarray(0, fromHeld))];
    const fromChunk = release - fromHeld;
    out.push(decipher.update(chunk.subarray(0, fromChunk)));
    // Copied so a retained 16-byte tail never pins a whole 1 MiB read buffer.
    this.#held = Buffer.from(Buffer.concat([this.#held.subarray(fromHeld), chunk.subarray(fromChunk)]));
    return Buffer.concat(out);
  }

  #fail(why: string): DecryptionFailure {
    return new DecryptionFailure(`cannot decrypt ${this.#file}: ${why}`, {
      file: this.#file,
      ...(this.#keyId && { keyId: this.#keyId }),
    });
  }
}
