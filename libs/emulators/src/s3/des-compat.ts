import crypto from 'node:crypto';

let installed = false;

/**
 * s3rver 3.7.1 encrypts its ListObjectsV2 continuation tokens with single DES, which OpenSSL 3
 * (Node >= 17) only offers in its legacy provider, so every truncated V2 listing fails with 500.
 * Triple DES with three equal keys computes exactly single DES and is still in the default
 * provider, so `des` with an 8-byte key is redirected to `des-ede3-cbc` with the key repeated.
 * Every other call passes through untouched; the only behaviour changed is a call that would
 * otherwise throw. s3rver resolves `crypto.createCipheriv` at call time, so patching the shared
 * module object is enough.
 */
export function installDesCompat(): void {
  if (installed) return;
  installed = true;
  const createCipheriv = crypto.createCipheriv;
  const createDecipheriv = crypto.createDecipheriv;
  const isDes = (algorithm: string, key: crypto.CipherKey): key is Buffer =>
    algorithm === 'des' && Buffer.isBuffer(key) && key.length === 8;
  const widen = (key: Buffer): Buffer => Buffer.concat([key, key, key]);

  crypto.createCipheriv = ((
    algorithm: string,
    key: crypto.CipherKey,
    iv: crypto.BinaryLike | null,
    options?: never,
  ) =>
    isDes(algorithm, key)
      ? createCipheriv('des-ede3-cbc', widen(key), iv, options)
      : createCipheriv(algorithm, key, iv, options)) as typeof crypto.createCipheriv;
  crypto.createDecipheriv = ((
    algorithm: string,
    key: crypto.CipherKey,
    iv: crypto.BinaryLike | null,
    options?: never,
  ) =>
    isDes(algorithm, key)
      ? createDecipheriv('des-ede3-cbc', widen(key), iv, options)
      : createDecipheriv(algorithm, key, iv, options)) as typeof crypto.createDecipheriv;
}
