import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../errors.ts';
import { DecryptionFailure, decryptStream, encryptStream, Keyring, parseKeySpec, Sealer } from './index.ts';

const spec = (id: string) => ({ id, key: randomBytes(32) });
const current = spec('k2026');
const ring = new Keyring(current);

async function collect(
  source: Iterable<Buffer> | AsyncIterable<Buffer>,
  ...through: NodeJS.ReadWriteStream[]
) {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(source),
    ...(through as [NodeJS.ReadWriteStream]),
    new Writable({
      write(chunk: Buffer, _e, done) {
        chunks.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}

const seal = (plain: Buffer, keyring = ring) => collect([plain], encryptStream(keyring));
const unseal = (stored: Buffer, keyring = ring) =>
  collect([stored], decryptStream(keyring, 'etc/app/api.token'));

describe('encryption format', () => {
  it('round-trips, and the stored bytes hold no plaintext', async () => {
    const plain = Buffer.from('GITHUB_TOKEN=ghp_supersecretvalue123\n');
    const stored = await seal(plain);
    expect(stored.includes(Buffer.from('supersecret'))).toBe(false);
    expect(stored.subarray(0, 5).toString()).toBe('FBENC');
    expect(stored.includes(Buffer.from('k2026'))).toBe(true);
    expect(await unseal(stored)).toEqual(plain);
  });

  it('round-trips an empty file and arbitrary chunk boundaries', async () => {
    expect(await unseal(await seal(Buffer.alloc(0)))).toEqual(Buffer.alloc(0));
    const plain = randomBytes(100_000);
    const stored = await seal(plain);
    // Feed the stored bytes 1, 7, 16, 17… bytes at a time: the header and tag straddle chunks.
    const pieces: Buffer[] = [];
    for (let i = 0, n = 1; i < stored.length; i += n, n = (n * 7) % 97 || 1)
      pieces.push(stored.subarray(i, i + n));
    expect(await collect(pieces, decryptStream(ring, 'x'))).toEqual(plain);
  });

  it('decrypts stored bytes fed one byte at a time', async () => {
    const plain = Buffer.from('one byte at a time, through the header, the body and the tag');
    const stored = await seal(plain);
    const bytes = [...stored].map((b) => Buffer.from([b]));
    expect(await collect(bytes, decryptStream(ring, 'x'))).toEqual(plain);
  });

  it('uses a fresh IV per file: the same secret never gives the same bytes', async () => {
    const plain = Buffer.from('same secret');
    expect((await seal(plain)).equals(await seal(plain))).toBe(false);
  });

  it('streams 64 MiB through with bounded memory', async () => {
    const chunk = randomBytes(1 << 20);
    let produced = 0;
    let consumed = 0;
    let peakInFlight = 0;
    async function* source() {
      for (let i = 0; i < 64; i++) {
        produced += chunk.length;
        yield chunk;
      }
    }
    const plainHash = createHash('sha256');
    for (let i = 0; i < 64; i++) plainHash.update(chunk);
    const outHash = createHash('sha256');
    await pipeline(
      Readable.from(source(), { objectMode: false, highWaterMark: 1 << 20 }),
      encryptStream(ring),
      decryptStream(ring, 'big.pem'),
      new Writable({
        write(c: Buffer, _e, done) {
          outHash.update(c);
          consumed += c.length;
          peakInFlight = Math.max(peakInFlight, produced - consumed);
          // Yield to the event loop so backpressure, not a fast sink, bounds what is in flight.
          setImmediate(done);
        },
      }),
    );
    expect(consumed).toBe(64 << 20);
    expect(outHash.digest('hex')).toBe(plainHash.digest('hex'));
    // Never more than a few 1 MiB buffers between the generator and the sink: the 64 MiB is
    // streamed, not buffered (the decryptor holds back only the 16-byte tag candidate).
    expect(peakInFlight).toBeLessThanOrEqual(8 << 20);
  });

  it('fails naming the file when a byte of the ciphertext is changed', async () => {
    const stored = await seal(Buffer.from('a secret value'));
    stored[stored.length - 20]! ^= 1;
    const err = await unseal(stored).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionFailure);
    expect((err as Error).message).toMatch(
      /cannot decrypt etc\/app\/api\.token: authentication failed with key k2026/,
    );
  });

  it('fails when the header is edited (it is authenticated too)', async () => {
    const other = new Keyring(current, [{ id: 'k2027', key: current.key }]);
    const stored = await seal(Buffer.from('a secret value'));
    // Same length id, same key bytes: only the AAD differs.
    stored.write('k2027', 7, 'latin1');
    await expect(unseal(stored, other)).rejects.toThrow(/authentication failed with key k2027/);
  });

  it('fails on a wrong key of the same id', async () => {
    const stored = await seal(Buffer.from('a secret value'));
    const impostor = new Keyring({ id: 'k2026', key: randomBytes(32) });
    await expect(unseal(stored, impostor)).rejects.toThrow(DecryptionFailure);
  });

  it('fails naming the key id when that key is not configured', async () => {
    const stored = await seal(Buffer.from('a secret value'));
    const err = await unseal(stored, new Keyring(spec('other'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionFailure);
    expect((err as Error).message).toContain('encrypted with key k2026, which is not configured here');
    expect((err as DecryptionFailure).details).toEqual({ file: 'etc/app/api.token', keyId: 'k2026' });
  });

  it('fails on truncation anywhere: in the header, the body or the tag', async () => {
    const stored = await seal(randomBytes(5000));
    for (const cut of [3, 20, 30, 2000, stored.length - 16, stored.length - 1]) {
      await expect(unseal(stored.subarray(0, cut))).rejects.toThrow(DecryptionFailure);
    }
  });

  it('refuses bytes that are not in the format', async () => {
    await expect(unseal(Buffer.from('plain text, not encrypted at all'))).rejects.toThrow(/bad magic bytes/);
  });

  it('decrypts with an older key after rotation', async () => {
    const stored = await seal(Buffer.from('old secret'));
    const rotated = new Keyring(spec('k2027'), [current]);
    expect((await unseal(stored, rotated)).toString()).toBe('old secret');
  });

  it('the Sealer gives the same format as the stream, and needs a current key', async () => {
    const s = new Sealer(ring);
    const stored = Buffer.concat([
      s.update(Buffer.from('part one, ')),
      s.update(Buffer.from('part two')),
      s.final(),
    ]);
    expect((await unseal(stored)).toString()).toBe('part one, part two');
    expect(() => new Sealer(new Keyring(null, [current]))).toThrow(/no encryption key configured/);
  });
});

describe('keyring', () => {
  const b64 = randomBytes(32).toString('base64');

  it('parses <keyId>:<base64 of 32 bytes>', () => {
    const k = parseKeySpec(`prod-2026.1:${b64}`, 'ENCRYPTION_KEY');
    expect(k.id).toBe('prod-2026.1');
    expect(k.key.toString('base64')).toBe(b64);
  });

  it.each([
    ['no colon', b64],
    ['bad id', `bad id:${b64}`],
    ['empty id', `:${b64}`],
    ['16 bytes', `k:${randomBytes(16).toString('base64')}`],
    ['33 bytes', `k:${randomBytes(33).toString('base64')}`],
    ['not base64', `k:${'!'.repeat(43)}=`],
  ])('refuses %s, without echoing the key', (_why, value) => {
    let err: unknown;
    try {
      parseKeySpec(value, 'ENCRYPTION_KEY');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toMatch(/^ENCRYPTION_KEY: /);
    expect((err as Error).message).not.toContain(value.slice(value.indexOf(':') + 1) || value);
  });

  it('refuses one id with two different keys', () => {
    expect(() => new Keyring(spec('a'), [spec('a')])).toThrow(/configured twice/);
  });

  it('prints ids only, never key bytes', () => {
    const k = parseKeySpec(`k1:${b64}`, 'x');
    const keyring = new Keyring(k, [spec('k0')]);
    expect(JSON.stringify({ keyring })).toBe('{"keyring":{"currentId":"k1","ids":["k1","k0"]}}');
    expect(inspect(keyring)).not.toContain(b64);
  });
});
