/**
 * The stored form of every object on a sealed target (AES-256-GCM in segments, as age and Tink's
 * streaming AEAD do), so that a range of a pack can be read and checked without the whole pack:
 *
 *   magic "FBSEAL01" (8) | data key id (16 ASCII) | nonce prefix (7)        the header, 31 bytes
 *   segment 0: ciphertext of up to 64 KiB of plaintext | GCM tag (16)
 *   segment 1 …
 *
 * Segment i's nonce is the prefix, i (uint32 big-endian) and a last-segment flag, and the header is
 * every segment's additional data: a segment moved, dropped, cut off at the end or taken from
 * another object fails its tag. An object of n bytes has max(1, ⌈n / 64 KiB⌉) segments, the last
 * flagged (an empty object: one empty segment), so stored and plaintext sizes map both ways.
 * The prefix is random per object, and a key's segments number under 2^32 per object.
 */
import { type CipherGCM, createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export const SEGMENT_BYTES = 64 * 1024;
export const TAG_BYTES = 16;
const MAGIC = Buffer.from('FBSEAL01', 'latin1');
export const KEY_ID_BYTES = 16;
const PREFIX_BYTES = 7;
export const HEADER_BYTES = MAGIC.length + KEY_ID_BYTES + PREFIX_BYTES;
const STORED_SEGMENT = SEGMENT_BYTES + TAG_BYTES;

/** The key objects are sealed with: its id (in every header) and its 32 bytes. */
export interface SealKey {
  id: string;
  key: Buffer;
}

export interface Header {
  keyId: string;
  prefix: Buffer;
  bytes: Buffer;
}

export function encodeHeader(keyId: string, prefix: Buffer): Buffer {
  if (!/^[0-9a-f]{16}$/.test(keyId)) throw new Error(`a sealing key id is 16 hex digits, not ${keyId}`);
  return Buffer.concat([MAGIC, Buffer.from(keyId, 'latin1'), prefix]);
}

/** The header at the start of `bytes`, or why those bytes are not a sealed object. */
export function decodeHeader(bytes: Buffer): Header | { invalid: string } {
  if (bytes.length < HEADER_BYTES) return { invalid: 'shorter than the sealed header' };
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { invalid: 'not sealed (bad magic bytes)' };
  const keyId = bytes.subarray(MAGIC.length, MAGIC.length + KEY_ID_BYTES).toString('latin1');
  if (!/^[0-9a-f]{16}$/.test(keyId)) return { invalid: 'the header names no valid key id' };
  const header = Buffer.from(bytes.subarray(0, HEADER_BYTES));
  return { keyId, prefix: header.subarray(MAGIC.length + KEY_ID_BYTES), bytes: header };
}

/** Segments of an object of `plain` bytes. */
export function segmentCount(plain: number): number {
  return Math.max(1, Math.ceil(plain / SEGMENT_BYTES));
}

/** The stored size of an object of `plain` bytes. */
export function storedSize(plain: number): number {
  return HEADER_BYTES + plain + TAG_BYTES * segmentCount(plain);
}

/** The plaintext size of a stored object of `stored` bytes, or undefined when no size maps to it. */
export function plainSize(stored: number): number | undefined {
  const body = stored - HEADER_BYTES;
  if (body < TAG_BYTES) return undefined;
  const plain = body - TAG_BYTES * Math.ceil(body / STORED_SEGMENT);
  return storedSize(plain) === stored ? plain : undefined;
}

/** Where segment `index` starts in the stored object. */
export function segmentOffset(index: number): number {
  return HEADER_BYTES + index * STORED_SEGMENT;
}

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, PREFIX_BYTES);
  n[11] = last ? 1 : 0;
  return n;
}

/** Seals one segment's plaintext: its ciphertext and tag. */
export function sealSegment(
  key: Buffer,
  header: Buffer,
  index: number,
  last: boolean,
  plain: Buffer,
): Buffer {
  const cipher: CipherGCM = createCipheriv(
    'aes-256-gcm',
    key,
    nonce(header.subarray(HEADER_BYTES - PREFIX_BYTES), index, last),
  );
  cipher.setAAD(header);
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** Opens one stored segment; throws when its tag does not check (altered, moved, or not `last`). */
export function openSegment(
  key: Buffer,
  header: Buffer,
  index: number,
  last: boolean,
  stored: Buffer,
): Buffer {
  if (stored.length < TAG_BYTES) throw new Error('a segment shorter than its tag');
  const decipher = createDecipheriv(
    'aes-256-gcm',
    key,
    nonce(header.subarray(HEADER_BYTES - PREFIX_BYTES), index, last),
  );
  decipher.setAAD(header);
  decipher.setAuthTag(stored.subarray(stored.length - TAG_BYTES));
  return Buffer.concat([decipher.update(stored.subarray(0, stored.length - TAG_BYTES)), decipher.final()]);
}

/** Plaintext in, the stored form out: the header, then each segment once the next bytes show it is not the last. */
export class SealStream extends Transform {
  readonly #key: Buffer;
  readonly #header: Buffer;
  /** Plaintext not sealed yet: at most one segment (it may be the last). */
  #pending: Buffer = Buffer.alloc(0);
  #index = 0;

  constructor(key: SealKey, prefix: Buffer) {
    super({ highWaterMark: 1 << 20 });
    this.#key = key.key;
    this.#header = encodeHeader(key.id, prefix);
    this.push(this.#header);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // One join per chunk at most, then segments by offset: a 16 MiB pack is not copied per segment.
    const data = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    let at = 0;
    // More than a segment left: the next full one is not the last.
    while (data.length - at > SEGMENT_BYTES) {
      this.push(
        sealSegment(this.#key, this.#header, this.#index++, false, data.subarray(at, at + SEGMENT_BYTES)),
      );
      at += SEGMENT_BYTES;
    }
    // Copied, so a held tail never pins the whole chunk it came in.
    this.#pending = Buffer.from(data.subarray(at));
    done();
  }

  override _flush(done: TransformCallback): void {
    done(null, sealSegment(this.#key, this.#header, this.#index, true, this.#pending));
  }
}

/** The stored form of bytes held whole (a pack), in one Buffer: the header and every segment. */
export function sealBytes(key: SealKey, prefix: Buffer, plain: Buffer): Buffer {
  const header = encodeHeader(key.id, prefix);
  const out = Buffer.allocUnsafe(storedSize(plain.length));
  header.copy(out, 0);
  let at = HEADER_BYTES;
  const count = segmentCount(plain.length);
  for (let i = 0; i < count; i++) {
    const sealed = sealSegment(
      key.key,
      header,
      i,
      i === count - 1,
      plain.subarray(i * SEGMENT_BYTES, (i + 1) * SEGMENT_BYTES),
    );
    sealed.copy(out, at);
    at += sealed.length;
  }
  return out;
}

/**
 * The stored form in, plaintext out, each segment checked before its bytes leave; `keyFor` gives
 * the key the header names. Fails with `fail(why)` on anything that does not check, the end
 * included: a stored object cut at a segment boundary lacks its last-flagged segment.
 */
export class OpenStream extends Transform {
  readonly #keyFor: (id: string) => Promise<Buffer>;
  readonly #fail: (why: string) => Error;
  #header: Buffer | null = null;
  #key: Buffer | null = null;
  #held: Buffer = Buffer.alloc(0);
  #index = 0;

  constructor(keyFor: (id: string) => Promise<Buffer>, fail: (why: string) => Error) {
    super({ highWaterMark: 1 << 20 });
    this.#keyFor = keyFor;
    this.#fail = fail;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#held = this.#held.length ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#drain(false).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    this.#drain(true).then(() => done(), done);
  }

  async #drain(ending: boolean): Promise<void> {
    if (!this.#header) {
      if (this.#held.length < HEADER_BYTES && !ending) return;
      const header = decodeHeader(this.#held);
      if ('invalid' in header) throw this.#fail(header.invalid);
      this.#key = await this.#keyFor(header.keyId);
      this.#header = header.bytes;
      this.#held = this.#held.subarray(HEADER_BYTES);
    }
    const key = this.#key as Buffer;
    // A full segment is known not to be the last only once a byte after it has come.
    while (this.#held.length > STORED_SEGMENT) {
      this.push(this.#open(key, false, this.#held.subarray(0, STORED_SEGMENT)));
      this.#held = this.#held.subarray(STORED_SEGMENT);
    }
    if (ending) {
      this.push(this.#open(key, true, this.#held));
      this.#held = Buffer.alloc(0);
    } else this.#held = Buffer.from(this.#held);
  }

  #open(key: Buffer, last: boolean, stored: Buffer): Buffer {
    try {
      return openSegment(key, this.#header as Buffer, this.#index++, last, stored);
    } catch {
      throw this.#fail(
        `segment ${this.#index - 1} does not authenticate: altered, truncated, or not sealed with this key`,
      );
    }
  }
}
