import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Hashes the stream in the same `partSize` slices lib-storage cuts it into, so the object's
 * SHA-256 checksum S3 reports can be checked: the plain digest for a single PUT (size <= partSize),
 * or for a multipart upload the composite `base64(sha256(digest1 || … || digestN))-N`.
 */
export class PartDigests extends Transform {
  private readonly partSize: number;
  private readonly digests: Buffer[] = [];
  private hash: Hash = createHash('sha256');
  private inPart = 0;
  private total = 0;

  constructor(partSize: number) {
    super({ highWaterMark: 1 << 20 });
    this.partSize = partSize;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.partSize - this.inPart, chunk.length - offset);
      this.hash.update(chunk.subarray(offset, offset + take));
      this.inPart += take;
      offset += take;
      if (this.inPart === this.partSize) this.closePart();
    }
    this.total += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    // A trailing partial part, or the lone (possibly empty) part of a small object.
    if (this.inPart > 0 || this.digests.length === 0) this.closePart();
    done();
  }

  private closePart(): void {
    this.digests.push(this.hash.digest());
    this.hash = createHash('sha256');
    this.inPart = 0;
  }

  /** The `ChecksumSHA256` S3 should report once the stream has ended. */
  expected(): string {
    return reportedChecksum(this.digests, this.total, this.partSize);
  }
}

/** The `ChecksumSHA256` S3 should report for these bytes uploaded in `partSize` slices (as lib-storage cuts a Buffer). */
export function partChecksumOf(bytes: Buffer, partSize: number): string {
  const digests: Buffer[] = [];
  for (let at = 0; at < bytes.length || digests.length === 0; at += partSize)
    digests.push(
      createHash('sha256')
        .update(bytes.subarray(at, at + partSize))
        .digest(),
    );
  return reportedChecksum(digests, bytes.length, partSize);
}

function reportedChecksum(digests: Buffer[], total: number, partSize: number): string {
  if (total <= partSize && digests.length === 1) return (digests[0] as Buffer).toString('base64');
  const composite = createHash('sha256').update(Buffer.concat(digests)).digest('base64');
  return `${composite}-${digests.length}`;
}

/** Hex sha256 from an S3 `ChecksumSHA256`, or undefined for a composite (multipart) checksum. */
export function sha256HexFromS3(checksum: string | undefined): string | undefined {
  if (checksum === undefined || checksum.includes('-')) return undefined;
  const bytes = Buffer.from(checksum, 'base64');
  return bytes.length === 32 ? bytes.toString('hex') : undefined;
}
