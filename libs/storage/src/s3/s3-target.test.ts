import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3_EMULATOR_CREDENTIALS, type S3Emulator, startS3Emulator } from '@fleet-backup/emulators';
import { startMinio } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError, PermanentError, TransientError } from '../errors.ts';
import { hashStream } from '../integrity.ts';
import {
  bufferBody,
  describeConformance,
  MiB,
  patternBytes,
  patternStream,
  readAll,
  sha256Hex,
} from '../testing/conformance.ts';
import { S3Target, type S3TargetOptions } from './s3-target.ts';

let dir: string;
let emu: S3Emulator;
const bucket = `fleet-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-s3-target-'));
  emu = await startS3Emulator({ dir, buckets: [bucket] });
});

afterAll(async () => {
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
});

function target(over: Partial<S3TargetOptions> = {}): S3Target {
  return new S3Target({
    name: 's3-test',
    bucket,
    prefix: 'fleet/a',
    endpoint: emu.endpoint,
    forcePathStyle: true,
    credentials: S3_EMULATOR_CREDENTIALS,
    checksums: 'none',
    partSize: 5 * MiB,
    maxAttempts: 1,
    ...over,
  });
}

describeConformance('s3 (s3rver)', async () => {
  const t = target({ prefix: `conformance-${randomUUID().slice(0, 8)}` });
  return { target: t, cleanup: async () => t.close() };
});

describe('S3Target against s3rver', () => {
  it('stores keys under <prefix>/<key> and reports a location without secrets', async () => {
    const t = target();
    const bytes = Buffer.from('under the prefix');
    await t.put('x/y.txt', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    expect(await readFile(emu.objectPath(bucket, 'fleet/a/x/y.txt'))).toEqual(bytes);
    expect(t.location).toBe(`s3://${bucket}/fleet/a at ${emu.endpoint}`);
    expect(t.location).not.toContain(S3_EMULATOR_CREDENTIALS.secretAccessKey);
    expect(t.kind).toBe('s3');
    expect(t.offsite).toBe(true);
    t.close();
  });

  it('streams a multipart upload larger than partSize and reads it back intact', async () => {
    const t = target();
    const size = 11 * MiB + 5;
    const expected = await hashStream(patternStream(size, 3));
    await t.put('big/object', patternStream(size, 3), { sha256: expected.sha256, size });
    expect(await hashStream(await t.get('big/object'))).toEqual(expected);
    expect((await t.head('big/object')).size).toBe(size);
    t.close();
  });

  it('rejects a multipart put whose sha256 is wrong, leaving nothing under the key', async () => {
    const t = target();
    const size = 11 * MiB;
    const wrong = sha256Hex('not these bytes');
    const put = t.put('big/wrong', patternStream(size, 4), { sha256: wrong, size });
    await expect(put).rejects.toBeInstanceOf(IntegrityError);
    await expect(t.head('big/wrong')).rejects.toBeInstanceOf(NotFoundError);
    expect((await t.list('big/wrong')).objects).toEqual([]);
    t.close();
  });

  it('rejects a body shorter than its promised size', async () => {
    const t = target();
    const bytes = patternBytes(1000, 5);
    const put = t.put('short', bufferBody(bytes), { sha256: sha256Hex(bytes), size: 1001 });
    await expect(put).rejects.toThrow(/expected 1001 bytes, got 1000/);
    await expect(t.head('short')).rejects.toBeInstanceOf(NotFoundError);
    t.close();
  });

  it('detects an object corrupted at rest by hashing what it reads back', async () => {
    const t = target();
    const bytes = patternBytes(100_000, 6);
    await t.put('rot/me', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    const path = emu.objectPath(bucket, 'fleet/a/rot/me');
    const onDisk = await readFile(path);
    onDisk[4242] = (onDisk[4242] ?? 0) ^ 0x01;
    await writeFile(path, onDisk);
    const back = await hashStream(await t.get('rot/me'));
    expect(back.size).toBe(bytes.length);
    expect(back.sha256).not.toBe(sha256Hex(bytes));
    t.close();
  });

  it('reads the first byte alone and rejects a range past the end', async () => {
    const t = target();
    const bytes = patternBytes(10, 7);
    await t.put('tiny', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    expect(await readAll(await t.get('tiny', { start: 0, end: 0 }))).toEqual(bytes.subarray(0, 1));
    await expect(t.get('tiny', { start: 10 })).rejects.toBeInstanceOf(PermanentError);
    await expect(t.get('tiny', { start: 5, end: 2 })).rejects.toBeInstanceOf(PermanentError);
    t.close();
  });

  it('reports a missing bucket as PermanentError naming the bucket and the endpoint', async () => {
    const t = target({ bucket: 'no-such-bucket-here' });
    const bytes = Buffer.from('x');
    for (const op of [
      () => t.put('k', bufferBody(bytes), { sha256: sha256Hex(bytes) }),
      () => t.get('k'),
      () => t.head('k'),
      () => t.list(''),
      () => t.delete('k'),
    ]) {
      const err = await op().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as Error).message).toContain('no-such-bucket-here');
      expect((err as Error).message).toContain(emu.endpoint);
    }
    t.close();
  });

  it('reports unknown credentials as PermanentError without echoing them', async () => {
    const t = target({ credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'hunter2-secret' } });
    const bytes = Buffer.from('x');
    const err = await t.put('k', bufferBody(bytes), { sha256: sha256Hex(bytes) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/access key id/);
    expect((err as Error).message).not.toContain('hunter2-secret');
    await expect(t.head('k')).rejects.toBeInstanceOf(PermanentError);
    t.close();
  });

  it('reports an unreachable endpoint as TransientError, and works again once it is back', async () => {
    const t = target();
    const bytes = Buffer.from('outage');
    await t.put('outage/k', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    const port = emu.port;
    await emu.stop();
    try {
      for (const op of [
        () => t.put('outage/k2', bufferBody(bytes), { sha256: sha256Hex(bytes) }),
        () => t.get('outage/k'),
        () => t.head('outage/k'),
        () => t.list('outage/'),
        () => t.delete('outage/k'),
      ]) {
        await expect(op()).rejects.toBeInstanceOf(TransientError);
      }
    } finally {
      emu = await startS3Emulator({ dir, port, buckets: [bucket] });
    }
    expect(await readAll(await t.get('outage/k'))).toEqual(bytes);
    t.close();
  });

  it('with checksums=sha256, refuses a server that keeps no checksums and says what to set', async () => {
    const t = target({ checksums: 'sha256' });
    for (const size of [1000, 6 * MiB]) {
      const bytes = patternBytes(size, 9);
      const err = await t.put(`sha/${size}`, bufferBody(bytes), { sha256: sha256Hex(bytes) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as Error).message).toMatch(/set checksums=none/);
      // The checksum headers did not end up inside the stored bytes.
      const plain = target();
      expect(sha256Hex(await readAll(await plain.get(`sha/${size}`)))).toBe(sha256Hex(bytes));
      plain.close();
    }
    t.close();
  });

  it('lists pages with a StartAfter cursor', async () => {
    const t = target({ prefix: 'paging' });
    const keys = Array.from({ length: 7 }, (_, i) => `p/${i}`);
    for (const key of keys) await t.put(key, bufferBody(Buffer.from(key)), { sha256: sha256Hex(key) });
    const first = await t.list('p/', { limit: 3 });
    expect(first.objects.map((o) => o.key)).toEqual(['p/0', 'p/1', 'p/2']);
    expect(first.next).toBe('p/2');
    const second = await t.list('p/', { limit: 3, cursor: first.next });
    expect(second.objects.map((o) => o.key)).toEqual(['p/3', 'p/4', 'p/5']);
    const last = await t.list('p/', { limit: 3, cursor: second.next });
    expect(last.objects.map((o) => o.key)).toEqual(['p/6']);
    expect(last.next).toBeUndefined();
    t.close();
  });
});

// The same suite against MinIO, where a Docker engine runs: the faithful S3 server, with real
// ChecksumSHA256 (s3rver has none), multipart abort and paginated listing.
const minio = await startMinio(`fleet-${randomUUID().slice(0, 8)}`);
afterAll(() => minio?.stop());

if (minio) {
  describeConformance('s3 (MinIO via testcontainers)', async () => {
    const t = new S3Target({
      name: 's3-minio',
      bucket: minio.bucket,
      prefix: `conformance-${randomUUID().slice(0, 8)}`,
      endpoint: minio.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
      checksums: 'sha256',
    });
    return { target: t, cleanup: async () => t.close() };
  });
}
