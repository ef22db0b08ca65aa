import { createHash, type Hash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { crc32cBase64, crc32cUpdate } from './crc32c.ts';

/** The checksums GCS reports for an object. */
export interface Digest {
  size: number;
  crc32c: string;
  md5Hash: string;
}

/** Running crc32c + md5 + size over bytes as they arrive; forkable so a failed chunk can be rolled back. */
export class ContentHasher {
  private crc = 0;
  private md5: Hash = createHash('md5');
  size = 0;

  update(buf: Buffer): void {
    this.crc = crc32cUpdate(this.crc, buf);
    this.md5.update(buf);
    this.size += buf.length;
  }

  fork(): ContentHasher {
    const copy = new ContentHasher();
    copy.crc = this.crc;
    copy.md5 = this.md5.copy();
    copy.size = this.size;
    return copy;
  }

  /** Digest so far; the hasher stays usable. */
  digest(): Digest {
    return { size: this.size, crc32c: crc32cBase64(this.crc), md5Hash: this.md5.copy().digest('base64') };
  }
}

/**
 * Writes bytes to a file while hashing them. Each write is awaited before the next chunk is
 * pulled from the socket, so memory stays at one network chunk whatever the object size.
 */
export class FileSink {
  readonly hasher: ContentHasher;
  private readonly fh: FileHandle;
  private position: number;

  private constructor(fh: FileHandle, hasher: ContentHasher, position: number) {
    this.fh = fh;
    this.hasher = hasher;
    this.position = position;
  }

  /** Opens `path` for writing at `position` (0 truncates a fresh file). */
  static async open(path: string, hasher = new ContentHasher(), position = 0): Promise<FileSink> {
    const fh = await open(path, position === 0 ? 'w' : 'r+');
    return new FileSink(fh, hasher, position);
  }

  async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    this.hasher.update(buf);
    let offset = 0;
    while (offset < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, offset, buf.length - offset, this.position);
      offset += bytesWritten;
      this.position += bytesWritten;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Hashes a file that is already on disk (a resumable upload's part file after a restart). */
export async function hashFile(path: string, length: number): Promise<ContentHasher> {
  const hasher = new ContentHasher();
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let position = 0;
    while (position < length) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, length - position), position);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      position += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return hasher;
}

/** Fails the upload when the client sent `X-Goog-Hash` (or metadata checksums) that the bytes don't match. */
export function expectedHashProblem(
  digest: Digest,
  expected: { crc32c?: string | undefined; md5Hash?: string | undefined },
): string | undefined {
  if (expected.crc32c !== undefined && expected.crc32c !== digest.crc32c) {
    return `Provided CRC32C "${expected.crc32c}" doesn't match calculated CRC32C "${digest.crc32c}".`;
  }
  if (expected.md5Hash !== undefined && expected.md5Hash !== digest.md5Hash) {
    return `Provided MD5 hash "${expected.md5Hash}" doesn't match calculated MD5 hash "${digest.md5Hash}".`;
  }
  return undefined;
}

/** Parses `X-Goog-Hash: crc32c=…,md5=…`. */
export function parseGoogHash(value: string | undefined): { crc32c?: string; md5Hash?: string } {
  const out: { crc32c?: string; md5Hash?: string } = {};
  if (!value) return out;
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const kind = pair.slice(0, eq).trim().toLowerCase();
    const hash = pair.slice(eq + 1).trim();
    if (kind === 'crc32c') out.crc32c = hash;
    if (kind === 'md5') out.md5Hash = hash;
  }
  return out;
}
