import { readFile } from 'node:fs/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3_EMULATOR_CREDENTIALS, type S3Emulator, startS3Emulator } from './s3.ts';
import { chunked, patternBytes, sha256, tempDir } from './test-helpers.ts';

let dir: string;
let removeDir: () => Promise<void>;
let emu: S3Emulator;
let s3: S3Client;
const BUCKET = 'emu-bucket';

function client(over: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    endpoint: emu.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: S3_EMULATOR_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    ...over,
  });
}

beforeAll(async () => {
  ({ dir, remove: removeDir } = await tempDir('s3-emu'));
  emu = await startS3Emulator({ dir, buckets: [BUCKET] });
  s3 = client();
});

afterAll(async () => {
  s3.destroy();
  await emu.stop();
  await removeDir();
});

async function body(key: string, range?: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: range }));
  return Buffer.from((await res.Body?.transformToByteArray()) ?? []);
}

describe('S3 emulator (s3rver) driven by @aws-sdk/client-s3', () => {
  it('puts, heads, gets and deletes, with the bytes at objectPath', async () => {
    const data = patternBytes(10_000, 1);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'dir/sub/obj.bin', Body: data }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'dir/sub/obj.bin' }));
    expect(head.ContentLength).toBe(10_000);
    expect(await body('dir/sub/obj.bin')).toEqual(data);
    expect(await readFile(emu.objectPath(BUCKET, 'dir/sub/obj.bin'))).toEqual(data);
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'dir/sub/obj.bin' }));
    await expect(
      s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'dir/sub/obj.bin' })),
    ).rejects.toMatchObject({
      name: 'NotFound',
    });
    await expect(body('dir/sub/obj.bin')).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it('stores a streamed multipart upload (lib-storage) byte for byte', async () => {
    const data = patternBytes(12 * 1024 * 1024 + 17, 2);
    const upload = new Upload({
      client: s3,
      params: { Bucket: BUCKET, Key: 'big/multipart.bin', Body: chunked(data) },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();
    expect(sha256(await body('big/multipart.bin'))).toBe(sha256(data));
  });

  it('serves ranges, including the first byte alone (s3rver answers bytes=0-0 with everything)', async () => {
    const data = patternBytes(1000, 3);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'range/obj', Body: data }));
    expect(await body('range/obj', 'bytes=0-0')).toEqual(data.subarray(0, 1));
    expect(await body('range/obj', 'bytes=10-19')).toEqual(data.subarray(10, 20));
    expect(await body('range/obj', 'bytes=990-')).toEqual(data.subarray(990));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'range/empty', Body: Buffer.alloc(0) }));
    expect((await body('range/empty', 'bytes=0-')).length).toBe(0);
  });

  it('paginates ListObjectsV2 with continuation tokens in UTF-8 byte order', async () => {
    const keys = ['ls/a', 'ls/a.txt', 'ls/a/b', 'ls/a/c/d', 'ls/a-b', 'ls/b', 'ls/é'];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Key }));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'ls/', MaxKeys: 2, ContinuationToken: token }),
      );
      seen.push(...(page.Contents ?? []).map((o) => o.Key ?? ''));
      token = page.NextContinuationToken;
      pages++;
    } while (token);
    expect(seen).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    expect(pages).toBe(4);
    const after = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'ls/', StartAfter: 'ls/a/b' }),
    );
    expect((after.Contents ?? []).map((o) => o.Key)).toEqual(['ls/a/c/d', 'ls/b', 'ls/é']);
  });

  it('rejects unknown credentials and missing buckets', async () => {
    const stranger = client({ credentials: { accessKeyId: 'NOPE', secretAccessKey: 'x' } });
    await expect(stranger.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'x' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
    await expect(
      stranger.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'x', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'InvalidAccessKeyId' });
    // s3rver does not check SigV4 signatures at all: only the access key id is looked up.
    const wrongSecret = client({ credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'wrong' } });
    await expect(
      wrongSecret.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'x', Body: 'x' })),
    ).resolves.toBeDefined();
    await expect(
      s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'x', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'NoSuchBucket' });
    stranger.destroy();
    wrongSecret.destroy();
  });

  it('keeps objects across a stop and a restart on the same port', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'restart/kept', Body: 'still here' }));
    const port = emu.port;
    await emu.stop();
    // A pooled connection may learn of the stop as a reset rather than a refusal.
    const err = await body('restart/kept').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as { code?: string } | undefined)?.code).toMatch(/^(ECONNREFUSED|ECONNRESET)$/);
    emu = await startS3Emulator({ dir, port, buckets: [BUCKET] });
    expect((await body('restart/kept')).toString()).toBe('still here');
  });
});
