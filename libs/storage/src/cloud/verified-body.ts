import { createHash } from 'node:crypto';
import { IntegrityError, PermanentError } from '../errors.ts';
import { SHA256_HEX, Sha256Verifier } from '../integrity.ts';
import type { PutOptions } from '../target.ts';

/** A Sha256Verifier for one put, remembering the mismatch it raised so it wins over follow-on errors. */
export interface VerifiedBody {
  verifier: Sha256Verifier;
  /** The error the verifier failed the stream with, if it did. */
  mismatch(): Error | undefined;
}

/** Checks the promised sha256 is well formed and builds the verifier every cloud put streams through. */
export function verifiedBody(target: string, key: string, opts: PutOptions): VerifiedBody {
  assertSha256(target, key, opts);
  let mismatch: Error | undefined;
  const verifier: Sha256Verifier = new Sha256Verifier(
    opts.sha256,
    (actual) => {
      // Same digest means only the promised size was wrong; say so rather than "expected X, got X".
      mismatch =
        actual === opts.sha256
          ? new PermanentError(`${key}: expected ${opts.size} bytes, got ${verifier.bytes}`, { target, key })
          : new IntegrityError(target, key, opts.sha256, actual);
      return mismatch;
    },
    opts.size,
  );
  return { verifier, mismatch: () => mismatch };
}

/**
 * Checks bytes a put holds whole (a Buffer body) against the promised sha256 and size before any
 * of them is sent, with the errors the verifier would raise at the end of a stream.
 */
export function checkBytes(target: string, key: string, opts: PutOptions, bytes: Buffer): void {
  assertSha256(target, key, opts);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== opts.sha256) throw new IntegrityError(target, key, opts.sha256, actual);
  if (opts.size !== undefined && bytes.length !== opts.size)
    throw new PermanentError(`${key}: expected ${opts.size} bytes, got ${bytes.length}`, { target, key });
}

function assertSha256(target: string, key: string, opts: PutOptions): void {
  if (!SHA256_HEX.test(opts.sha256)) {
    throw new PermanentError(`expected sha256 for ${key} is not 64 lowercase hex digits: ${opts.sha256}`, {
      target,
      key,
    });
  }
}
