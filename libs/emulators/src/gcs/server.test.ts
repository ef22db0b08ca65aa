import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunked, collect, patternBytes, sha256, tempDir } from '../test-helpers.ts';
import { crc32c, crc32cBase64 } from './crc32c.ts';
import { type GcsEmulator, startGcsEmulator } from './server.ts';

let emu: GcsEmulator;
let storage: Storage;
let removeDir: () => Promise<void>;
const BUCKET = 'emu-bucket';

beforeAll(async () => {
  const tmp = await tempDir('gcs-emu');
  removeDir = tmp.remove;
  emu = await startGcsEmulator({ dir: tmp.dir });
  storage = new Storage({ apiEndpoint: emu.endpoint, projectId: 'test' });
  await storage.createBucket(BUCKET);
});

afterAll(async () => {
  await emu.stop();
  await removeDir();
});

function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

describe('GCS emulator driven by @google-cloud/storage', () => {
  it('creates and gets buckets, answering 404 and 409 like GCS', async () => {
    const [meta] = await storage.bucket(BUCKET).getMetadata();
    expect(meta.name).toBe(BUCKET);
    await expect(storage.bucket('no-such-bucket').getMetadata()).rejects.toMatchObject({ code: 404 });
    await expect(storage.createBucket(BUCKET)).rejects.toMatchObject({ code: 409 });
    const [exists] = await storage.bucket('no-such-bucket').exists();
    expect(exists).toBe(false);
  });

  it('stores a multipart (non-resumable) upload with string size/generation and real checksums', async () => {
    const data = patternBytes(100_000, 7);
    const file = storage.bucket(BUCKET).file('simple/one.bin');
    await file.save(data, { resumable: false, contentType: 'application/x-test' });
    const [meta] = await file.getMetadata();
    expect(meta.size).toBe('100000');
    expect(typeof meta.generation).toBe('string');
    expect(meta.crc32c).toBe(crc32cBase64(crc32c(data)));
    expect(meta.md5Hash).toBe(md5Base64(data));
    expect(meta.contentType).toBe('application/x-test');
    const downloaded = await collect(file.createReadStream());
    expect(sha256(downloaded)).toBe(sha256(data));
  });

  it('takes a simple media upload (uploadType=media)', async () => {
    const data = patternBytes(70_000, 12);
    const res = await fetch(
      `${emu.endpoint}/upload/storage/v1/b/${BUCKET}/o?uploadType=media&name=media%2Fone`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-media' },
        body: data,
      },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name: 'media/one',
      size: '70000',
      contentType: 'application/x-media',
    });
    const downloaded = await collect(storage.bucket(BUCKET).file('media/one').createReadStream());
    expect(downloaded).toEqual(data);
  });

  it('lists buckets and deletes only empty ones', async () => {
    const [buckets] = await storage.getBuckets();
    expect(buckets.map((b) => b.name)).toContain(BUCKET);
    const [spare] = await storage.createBucket('spare-bucket');
    await spare.file('x').save('x');
    await expect(spare.delete()).rejects.toMatchObject({ code: 409 });
    await spare.file('x').delete();
    await spare.delete();
    expect((await spare.exists())[0]).toBe(false);
  });

  it('takes a resumable upload larger than the chunk size, in several PUTs', async () => {
    const data = patternBytes(3 * 256 * 1024 + 12_345, 11);
    const file = storage.bucket(BUCKET).file('resumable/chunked.bin');
    const puts: number[] = [];
    const ws = file.createWriteStream({ resumable: true, chunkSize: 256 * 1024, validation: 'crc32c' });
    ws.on('progress', (p: { bytesWritten: number }) => puts.push(p.bytesWritten));
    await pipeline(chunked(data, 50_000), ws);
    const [meta] = await file.getMetadata();
    expect(meta.size).toBe(String(data.length));
    expect(meta.crc32c).toBe(crc32cBase64(crc32c(data)));
    expect(sha256(await collect(file.createReadStream()))).toBe(sha256(data));
    expect(await readFile(emu.objectPath(BUCKET, 'resumable/chunked.bin'))).toEqual(data);
  });

  it('takes a single-request resumable upload of unknown length', async () => {
    const data = patternBytes(2 * 1024 * 1024 + 1, 3);
    const file = storage.bucket(BUCKET).file('resumable/streamed.bin');
    await pipeline(chunked(data), file.createWriteStream({ resumable: true }));
    const downloaded = await collect(file.createReadStream());
    expect(sha256(downloaded)).toBe(sha256(data));
  });

  it('stores empty objects through both chunked and single-request uploads', async () => {
    const chunkedFile = storage.bucket(BUCKET).file('empty/chunked');
    await pipeline(chunked(Buffer.alloc(0)), chunkedFile.createWriteStream({ chunkSize: 256 * 1024 }));
    const single = storage.bucket(BUCKET).file('empty/single');
    await single.save(Buffer.alloc(0));
    for (const f of [chunkedFile, single]) {
      const [meta] = await f.getMetadata();
      expect(meta.size).toBe('0');
      expect((await f.download())[0].length).toBe(0);
    }
  });

  it('serves ranged downloads (206) and validates whole downloads', async () => {
    const data = patternBytes(300_000, 5);
    const file = storage.bucket(BUCKET).file('ranges/data.bin');
    await file.save(data);
    const mid = await collect(file.createReadStream({ start: 1000, end: 1999 }));
    expect(mid).toEqual(data.subarray(1000, 2000));
    const first = await collect(file.createReadStream({ start: 0, end: 0 }));
    expect(first).toEqual(data.subarray(0, 1));
    const rest = await collect(file.createReadStream({ start: 299_990 }));
    expect(rest).toEqual(data.subarray(299_990));
    const tail = await collect(file.createReadStream({ end: -10 }));
    expect(tail).toEqual(data.subarray(-10));

    const res = await fetch(
      `${emu.endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent('ranges/data.bin')}?alt=media`,
      {
        headers: { Range: 'bytes=10-19' },
      },
    );
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 10-19/${data.length}`);
    expect(res.headers.get('x-goog-hash')).toBe(
      `crc32c=${crc32cBase64(crc32c(data))},md5=${md5Base64(data)}`,
    );
    expect(res.headers.get('x-goog-stored-content-encoding')).toBe('identity');
    expect(Buffer.from(await res.arrayBuffer())).toEqual(data.subarray(10, 20));
    const bad = await fetch(
      `${emu.endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent('ranges/data.bin')}?alt=media`,
      {
        headers: { Range: `bytes=${data.length}-` },
      },
    );
    expect(bad.status).toBe(416);
  });

  it('fails a whole download whose bytes were corrupted on disk (client crc32c validation)', async () => {
    const data = patternBytes(50_000, 9);
    const file = storage.bucket(BUCKET).file('corrupt/me.bin');
    await file.save(data);
    const path = emu.objectPath(BUCKET, 'corrupt/me.bin');
    const onDisk = await readFile(path);
    onDisk[12_345] = (onDisk[12_345] ?? 0) ^ 0xff;
    await writeFile(path, onDisk);
    await expect(file.download()).rejects.toMatchObject({ code: 'CONTENT_DOWNLOAD_MISMATCH' });
  });

  it('lists with prefix, delimiter and pagination in UTF-8 byte order', async () => {
    const bucket = storage.bucket(BUCKET);
    const names = ['list/a.txt', 'list/a/b', 'list/a/c', 'list/a-b', 'list/b', 'list/é', 'list/z'];
    for (const n of names) await bucket.file(n).save(Buffer.from(n), { resumable: false });
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const [files, next] = await bucket.getFiles({
        prefix: 'list/',
        maxResults: 3,
        autoPaginate: false,
        pageToken,
      });
      seen.push(...files.map((f) => f.name));
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
      pages++;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(seen).toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));

    const [top, , response] = await bucket.getFiles({ prefix: 'list/', delimiter: '/', autoPaginate: false });
    expect(top.map((f) => f.name)).toEqual(['list/a-b', 'list/a.txt', 'list/b', 'list/z', 'list/é']);
    expect((response as { prefixes?: string[] }).prefixes).toEqual(['list/a/']);
  });

  it('deletes, then answers 404 in the Google error shape', async () => {
    const file = storage.bucket(BUCKET).file('gone/soon');
    await file.save('x');
    await file.delete();
    await expect(file.getMetadata()).rejects.toMatchObject({ code: 404 });
    await expect(file.delete()).rejects.toMatchObject({ code: 404 });
    await file.delete({ ignoreNotFound: true });
    const res = await fetch(`${emu.endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent('gone/soon')}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: {
        code: 404,
        message: `No such object: ${BUCKET}/gone/soon`,
        errors: [{ message: `No such object: ${BUCKET}/gone/soon`, domain: 'global', reason: 'notFound' }],
      },
    });
  });

  it('enforces ifGenerationMatch=0 (write-once) with 412', async () => {
    const file = storage.bucket(BUCKET).file('once/only');
    await file.save('first', { preconditionOpts: { ifGenerationMatch: 0 } });
    await expect(file.save('second', { preconditionOpts: { ifGenerationMatch: 0 } })).rejects.toMatchObject({
      code: 412,
    });
    await expect(
      file.save('second', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
    ).rejects.toMatchObject({ code: 412 });
    expect((await file.download())[0].toString()).toBe('first');
  });
});
