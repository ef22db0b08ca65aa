import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkBytes, verifiedBody } from '../cloud/verified-body.ts';
import { CorruptObjectError, PermanentError } from '../errors.ts';
import { hashStream } from '../integrity.ts';
import { parseBlobKey, parsePackKey } from '../layout.ts';
import { openBody } from '../put-body.ts';
import type {
  ByteRange,
  ListOptions,
  ListPage,
  ObjectInfo,
  PutBody,
  PutOptions,
  StorageTarget,
  TargetKind,
} from '../target.ts';
import {
  decodeHeader,
  HEADER_BYTES,
  type Header,
  OpenStream,
  openSegment,
  plainSize,
  SEGMENT_BYTES,
  SealStream,
  sealBytes,
  segmentCount,
  segmentOffset,
  storedSize,
  TAG_BYTES,
} from './format.ts';
import type { SealingKeys } from './keys.ts';

/** A one-shot stream body is read into memory to be sealed twice; objects are packs, chunks, manifests. */
const MAX_BUFFERED_BODY = 256 << 20;
const KEYED_BLOBS = 'blobs/keyed/';
/** Packs whose size and header a target keeps for range reads (a few KB). */
const KEPT_HEADERS = 64;

/**
 * A target whose every object is sealed client-side (sealed/format.ts) before it leaves the
 * process, and opened and checked as it is read back, ranges included: the bucket holds no byte of
 * a file, a path (manifests and listings are sealed like blobs) or a blob's sha256. A blob stored
 * on its own is named by an HMAC of its sha256 under a key of its own (`blobs/keyed/…`), so a
 * bucket's listing does not tell which known files it holds; packs are named by the sha256 of
 * their own plaintext, which no outsider can compute. What fails to open reads as a corrupt
 * object (CorruptObjectError), as rot does.
 */
export class SealedTarget implements StorageTarget {
  readonly name: string;
  readonly kind: TargetKind;
  readonly offsite: boolean;
  readonly location: string;
  readonly writeOnly?: boolean;
  readonly #inner: StorageTarget;
  readonly #keys: SealingKeys;
  readonly #headers = new Map<string, { size: number; header: Header }>();

  constructor(inner: StorageTarget, keys: SealingKeys) {
    this.#inner = inner;
    this.#keys = keys;
    this.name = inner.name;
    this.kind = inner.kind;
    this.offsite = inner.offsite;
    this.location = inner.location;
    if (inner.writeOnly) this.writeOnly = true;
  }

  /** The name an object is stored under: a blob's sha256 is replaced by its keyed id. */
  async #stored(key: string): Promise<string> {
    const sha256 = parseBlobKey(key);
    if (sha256 === undefined) return key;
    const id = createHmac('sha256', (await this.#keys.naming(this.#inner)).blobIds)
      .update(sha256)
      .digest('hex');
    return `${KEYED_BLOBS}${id.slice(0, 2)}/${id}`;
  }

  #corrupt(key: string, why: string): CorruptObjectError {
    return new CorruptObjectError(`${key} on target ${this.name} cannot be opened: ${why}`, {
      target: this.name,
      key,
    });
  }

  async put(key: string, body: PutBody, opts: PutOptions): Promise<void> {
    const current = await this.#keys.current();
    await this.#keys.publish(this.#inner, current.id);
    const bytes =
      typeof body === 'function' || Buffer.isBuffer(body)
        ? body
        : await readWhole(body, key, this.name, opts.signal);
    // A random prefix per object; the same one for both passes, which seal the same plaintext.
    const prefix = randomBytes(7);
    const where = { ...(opts.signal && { signal: opts.signal }), ...(opts.ifAbsent && { ifAbsent: true }) };
    if (Buffer.isBuffer(bytes)) {
      // Held whole (a pack): checked, sealed once into one Buffer, which the target sends as it is.
      checkBytes(this.name, key, opts, bytes);
      const sealedBytes = sealBytes(current.seal, prefix, bytes);
      const sha256 = createHash('sha256').update(sealedBytes).digest('hex');
      await this.#inner.put(await this.#stored(key), sealedBytes, {
        sha256,
        size: sealedBytes.length,
        ...where,
      });
      return;
    }
    const sealed = () => {
      const { verifier } = verifiedBody(this.name, key, opts);
      const out = new SealStream(current.seal, prefix);
      pipeline(openBody(bytes), verifier, out, opts.signal ? { signal: opts.signal } : {}).catch(
        (err: unknown) => out.destroy(err as Error),
      );
      return out;
    };
    // Pass one learns the stored bytes' sha256, which the target checks them against as they go.
    const stored = await hashStream(sealed());
    await this.#inner.put(await this.#stored(key), sealed, {
      sha256: stored.sha256,
      size: stored.size,
      ...where,
    });
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Readable> {
    const stored = await this.#stored(key);
    if (!range) {
      const raw = await this.#inner.get(stored, undefined, signal);
      const open = new OpenStream(
        async (id) => (await this.#keys.byId(id, this.#inner)).seal.key,
        (why) => this.#corrupt(key, why),
      );
      raw.on('error', (err) => open.destroy(err));
      // A reader that stops early releases the download (a connection, on a cloud target) too.
      open.on('close', () => raw.destroy());
      return raw.pipe(open);
    }
    const cached = this.#headers.has(stored);
    try {
      return Readable.from([await this.#range(key, stored, range, signal)]);
    } catch (err) {
      // What was kept may be of an object since deleted and put again (a gc, another process):
      // the range is read once more from scratch before it counts as corrupt.
      if (!cached || !(err instanceof CorruptObjectError)) throw err;
      return Readable.from([await this.#range(key, stored, range, signal)]);
    }
  }

  /** A range of the plaintext: the segments that hold it, each opened and checked, then sliced. */
  async #range(key: string, stored: string, range: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    const { size, header: decoded } = await this.#opening(key, stored, signal);
    const end = Math.min(range.end ?? size - 1, size - 1);
    if (range.start > end) return Buffer.alloc(0);
    const first = Math.floor(range.start / SEGMENT_BYTES);
    const last = Math.floor(end / SEGMENT_BYTES);
    const count = segmentCount(size);
    const sealKey = (await this.#keys.byId(decoded.keyId, this.#inner)).seal.key;
    const body = await readAll(
      await this.#inner.get(
        stored,
        { start: segmentOffset(first), end: Math.min(segmentOffset(last + 1), storedSize(size)) - 1 },
        signal,
      ),
    );
    const plain: Buffer[] = [];
    for (let i = first, at = 0; i <= last; i++) {
      const length = Math.min(SEGMENT_BYTES + TAG_BYTES, body.length - at);
      try {
        plain.push(openSegment(sealKey, decoded.bytes, i, i === count - 1, body.subarray(at, at + length)));
      } catch {
        this.#headers.delete(stored);
        throw this.#corrupt(key, `segment ${i} does not authenticate`);
      }
      at += length;
    }
    const from = range.start - first * SEGMENT_BYTES;
    return Buffer.concat(plain).subarray(from, from + end - range.start + 1);
  }

  /**
   * A sealed object's plaintext size and header, for its range reads. A pack is read by many
   * ranges (a restore, a re-read) and never changes (its name is its content's): both are kept for
   * the last packs read, so a range costs one request, not three.
   */
  async #opening(
    key: string,
    stored: string,
    signal?: AbortSignal,
  ): Promise<{ size: number; header: Header }> {
    const known = this.#headers.get(stored);
    if (known) return known;
    const { size } = await this.head(key);
    const bytes = await readAll(await this.#inner.get(stored, { start: 0, end: HEADER_BYTES - 1 }, signal));
    const header = decodeHeader(bytes);
    if ('invalid' in header) throw this.#corrupt(key, header.invalid);
    const opening = { size, header };
    if (parsePackKey(key) !== undefined) {
      if (this.#headers.size >= KEPT_HEADERS)
        this.#headers.delete(this.#headers.keys().next().value as string);
      this.#headers.set(stored, opening);
    }
    return opening;
  }

  async head(key: string): Promise<ObjectInfo> {
    const info = await this.#inner.head(await this.#stored(key));
    const size = plainSize(info.size);
    if (size === undefined) throw this.#corrupt(key, `${info.size} bytes is no sealed object's size`);
    // The target's checksums are of the sealed bytes: not the plaintext's, so not passed on.
    return { key, size };
  }

  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    const page = await this.#inner.list(prefix, opts);
    return {
      ...page,
      objects: page.objects.map((o) => ({ key: o.key, size: plainSize(o.size) ?? o.size })),
    };
  }

  async delete(key: string): Promise<void> {
    const stored = await this.#stored(key);
    this.#headers.delete(stored);
    await this.#inner.delete(stored);
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A one-shot stream's bytes, held so they can be sealed twice (bounded: objects are small). */
async function readWhole(body: Readable, key: string, target: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stop = () => body.destroy(signal?.reason as Error);
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BUFFERED_BODY) {
        body.destroy();
        throw new PermanentError(`${key}: a streamed body over ${MAX_BUFFERED_BODY} bytes cannot be sealed`, {
          target,
          key,
        });
      }
      chunks.push(chunk as Buffer);
    }
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  return Buffer.concat(chunks);
}
