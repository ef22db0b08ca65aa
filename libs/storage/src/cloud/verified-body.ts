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
  if (!SHA256_HEX.test(opts.sha256)) {
    throw new PermanentError(`expected sha256 for ${key} is not 64 lowercase hex digits: ${opts.sha256}`, {
      target,
      key,
    });
  }
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
