import { request } from 'node:http';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, patternBytes, sha256, tempDir } from '../test-helpers.ts';
import { crc32c, crc32cBase64 } from './crc32c.ts';
import { type GcsEmulator, startGcsEmulator } from './server.ts';

// The resumable protocol spoken by hand, to pin down the status codes and headers the client
// libraries rely on, plus restarts of the emulator in the middle of things.

let dir: string;
let removeDir: () => Promise<void>;
let emu: GcsEmulator;
let port: number;
const BUCKET = 'resumable-bucket';

beforeAll(async () => {
  ({ dir, remove: removeDir } = await tempDir('gcs-resumable'));
  emu = await startGcsEmulator({ dir });
  port = emu.port;
  await emu.createBucket(BUCKET);
});

afterAll(async () => {
  await emu.stop();
  await removeDir();
});

async function startSession(name: string, query = ''): Promise<Response> {
  return fetch(
    `${emu.endpoint}/upload/storage/v1/b/${BUCKET}/o?uploadType=resumable&name=${encodeURIComponent(name)}${query}`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ contentType: 'x/y' }),
    },
  );
}

async function sessionUrl(name: string): Promise<string> {
  const res = await startSession(name);
  expect(res.status).toBe(200);
  const location = res.headers.get('location');
  expect(location).toMatch(/upload_id=/);
  return location ?? '';
}

function put(url: string, contentRange: string, body?: Buffer): Promise<Response> {
  return fetch(url, {
    method: 'PUT',
    headers: { 'Content-Range': contentRange },
    body: body ?? Buffer.alloc(0),
  });
}

describe('resumable uploads over raw HTTP', () => {
  it('answers 308 with Range for partial chunks and status queries, 200 with object JSON at the end', async () => {
    const data = patternBytes(600_000, 2);
    const url = await sessionUrl('raw/object');
    const first = await put(url, 'bytes 0-262143/*', data.subarray(0, 262_144));
    expect(first.status).toBe(308);
    expect(first.headers.get('range')).toBe('bytes=0-262143');
    const status = await put(url, 'bytes */*');
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-262143');
    // Resending overlapping bytes is allowed; the server keeps what it already has.
    const second = await put(url, `bytes 200000-524287/*`, data.subarray(200_000, 524_288));
    expect(second.headers.get('range')).toBe('bytes=0-524287');
    const last = await put(url, `bytes 524288-${data.length - 1}/${data.length}`, data.subarray(524_288));
    expect(last.status).toBe(200);
    const obj = (await last.json()) as Record<string, unknown>;
    expect(obj).toMatchObject({
      name: 'raw/object',
      bucket: BUCKET,
      size: String(data.length),
      contentType: 'x/y',
      crc32c: crc32cBase64(crc32c(data)),
    });
    expect(typeof obj.generation).toBe('string');
    // A status query after completion returns the object again.
    const after = await put(url, `bytes */${data.length}`);
    expect(after.status).toBe(200);
  });

  it('finalizes with `bytes */N` once all N bytes are in', async () => {
    const data = patternBytes(1000, 4);
    const url = await sessionUrl('raw/finalize-later');
    expect((await put(url, 'bytes 0-999/*', data)).status).toBe(308);
    expect((await put(url, 'bytes */2000')).status).toBe(308);
    const done = await put(url, 'bytes */1000');
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ size: '1000' });
  });

  it('rejects a final chunk whose X-Goog-Hash disagrees with the bytes, storing nothing', async () => {
    const url = await sessionUrl('raw/bad-hash');
    const res = await fetch(url, {
      method: 'PUT',
      headers: { 'Content-Range': 'bytes 0-2/3', 'X-Goog-Hash': 'crc32c=AAAAAA==' },
      body: Buffer.from('abc'),
    });
    expect(res.status).toBe(400);
    const head = await fetch(
      `${emu.endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent('raw/bad-hash')}`,
    );
    expect(head.status).toBe(404);
  });

  it('applies ifGenerationMatch=0 at session start and at finalize', async () => {
    const early = await sessionUrl('raw/once');
    const late = await sessionUrl('raw/once');
    expect((await put(early, 'bytes 0-0/1', Buffer.from('a'))).status).toBe(200);
    // The object now exists: a new session with the precondition is refused at once...
    expect((await startSession('raw/once', '&ifGenerationMatch=0')).status).toBe(412);
    // ...and a session opened before it existed without one still succeeds.
    expect((await put(late, 'bytes 0-0/1', Buffer.from('b'))).status).toBe(200);
    const raced = (await startSession('raw/twice', '&ifGenerationMatch=0')).headers.get('location') ?? '';
    await put(await sessionUrl('raw/twice'), 'bytes 0-0/1', Buffer.from('x'));
    const res = await put(raced, 'bytes 0-0/1', Buffer.from('y'));
    expect(res.status).toBe(412);
    expect(await res.json()).toMatchObject({ error: { code: 412, errors: [{ reason: 'conditionNotMet' }] } });
  });

  it('drops a chunk whose connection breaks midway, keeping the bytes before it', async () => {
    const url = await sessionUrl('raw/broken');
    await put(url, 'bytes 0-99/*', patternBytes(100));
    await new Promise<void>((resolve) => {
      const req = request(url, { method: 'PUT', headers: { 'Content-Range': 'bytes 100-100099/*' } });
      req.on('error', () => resolve());
      req.write(patternBytes(50_000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    // Give the server a moment to notice the reset and roll the part file back.
    await new Promise((r) => setTimeout(r, 100));
    const status = await put(url, 'bytes */*');
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe('bytes=0-99');
  });

  it('cancels a session with DELETE (499), after which it is gone', async () => {
    const url = await sessionUrl('raw/cancel');
    await put(url, 'bytes 0-9/*', patternBytes(10));
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(499);
    expect((await put(url, 'bytes */*')).status).toBe(404);
  });

  it('keeps objects and open sessions across a stop and a restart on the same port', async () => {
    const storage = new Storage({ apiEndpoint: emu.endpoint, projectId: 'test' });
    const data = patternBytes(70_000, 8);
    await storage.bucket(BUCKET).file('restart/kept').save(data);
    const url = await sessionUrl('restart/session');
    await put(url, 'bytes 0-39999/*', data.subarray(0, 40_000));

    await emu.stop();
    await expect(fetch(`${emu.endpoint}/storage/v1/b/${BUCKET}`)).rejects.toThrow();
    emu = await startGcsEmulator({ dir, port });

    const kept = await collect(storage.bucket(BUCKET).file('restart/kept').createReadStream());
    expect(sha256(kept)).toBe(sha256(data));
    const status = await put(url, 'bytes */*');
    expect(status.headers.get('range')).toBe('bytes=0-39999');
    const done = await put(url, `bytes 40000-69999/70000`, data.subarray(40_000));
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ crc32c: crc32cBase64(crc32c(data)) });
  });
});
