import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type GcsEmulator, startGcsEmulator } from '@fleet-backup/emulators';
import { startFakeGcs } from '@fleet-backup/testkit';
import { Storage } from '@google-cloud/storage';
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
import { GcsTarget, type GcsTargetOptions } from './gcs-target.ts';

let dir: string;
let emu: GcsEmulator;
const bucket = `fleet-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-gcs-target-'));
  emu = await startGcsEmulator({ dir });
  await new Storage({ apiEndpoint: emu.endpoint, projectId: 'test' }).createBucket(bucket);
});

afterAll(async () => {
  await emu.stop();
  await rm(dir, { recursive: true, force: true });
});

function target(over: Partial<GcsTargetOptions> = {}): GcsTarget {
  return new GcsTarget({
    name: 'gcs-test',
    bucket,
    prefix: 'fleet/a',
    apiEndpoint: emu.endpoint,
    projectId: 'test',
    chunkSize: 1 * MiB,
    retries: 0,
    ...over,
  });
}

/** Resumable sessions the emulator still holds (each is a .json record under uploads/). */
async function openSessions(): Promise<number> {
  return (await readdir(join(dir, 'uploads'))).filter((f) => f.endsWith('.json')).length;
}

describeConformance('gcs (emulator)', async () => {
  const t = target({ prefix: `conformance-${randomUUID().slice(0, 8)}`, chunkSize: 8 * MiB });
  return { target: t, cleanup: async () => undefined };
});

describe('GcsTarget against the GCS emulator', () => {
  it('stores keys under <prefix>/<key> and reports a location', async () => {
    const t = target();
    const bytes = Buffer.from('under the prefix');
    await t.put('x/y.txt', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    expect(await readFile(emu.objectPath(bucket, 'fleet/a/x/y.txt'))).toEqual(bytes);
    expect(t.location).toBe(`gs://${bucket}/fleet/a at ${emu.endpoint}`);
    expect(t.kind).toBe('gcs');
    expect(t.offsite).toBe(true);
    const info = await t.head('x/y.txt');
    expect(info.checksums?.crc32c).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    expect(info.checksums?.md5).toBe(createHash('md5').update(bytes).digest('base64'));
  });

  it('uploads in several resumable chunks and reads the object back intact', async () => {
    const t = target();
    const size = 3 * MiB + 12_345;
    const expected = await hashStream(patternStream(size, 3));
    await t.put('big/object', patternStream(size, 3), { sha256: expected.sha256, size });
    expect(await hashStream(await t.get('big/object'))).toEqual(expected);
    expect((await t.head('big/object')).size).toBe(size);
  });

  it('rejects a multi-chunk put whose sha256 is wrong: nothing under the key, no session left', async () => {
    const t = target();
    const bytes = patternBytes(3 * MiB, 4);
    const before = await openSessions();
    // A slow body, so the client opens its session and sends chunks before the mismatch shows.
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < bytes.length; i += 256 * 1024) {
          await new Promise((r) => setTimeout(r, 5));
          yield bytes.subarray(i, i + 256 * 1024);
        }
      })(),
    );
    let most = before;
    const watch = setInterval(() => {
      void openSessions().then((n) => {
        most = Math.max(most, n);
      });
    }, 5);
    const put = t.put('big/wrong', body, { sha256: sha256Hex('not these bytes'), size: bytes.length });
    await expect(put).rejects.toBeInstanceOf(IntegrityError);
    clearInterval(watch);
    expect(most).toBeGreaterThan(before);
    await expect(t.head('big/wrong')).rejects.toBeInstanceOf(NotFoundError);
    expect((await t.list('big/wrong')).objects).toEqual([]);
    // The client may open its session after the put already failed; that one is cancelled late.
    await expect.poll(openSessions, { timeout: 3000 }).toBe(before);
  });

  it('downloads a large object, whole and by range, with no MaxListenersExceededWarning', async () => {
    // The client's pipelines put 11 listeners on each download's body (googleapis/google-cloud-node#9185).
    const t = target();
    const bytes = patternBytes(20 * MiB, 17);
    await t.put('large-read', bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      expect((await readAll(await t.get('large-read'))).equals(bytes)).toBe(true);
      const part = await readAll(await t.get('large-read', { start: MiB, end: 12 * MiB - 1 }));
      expect(part.equals(bytes.subarray(MiB, 12 * MiB))).toBe(true);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
  });

  it('fails reading an object corrupted at rest (its stored MD5) with PermanentError', async () => {
    const t = target();
    const bytes = patternBytes(100_000, 6);
    await t.put('rot/me', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    const path = emu.objectPath(bucket, 'fleet/a/rot/me');
    const onDisk = await readFile(path);
    onDisk[4242] = (onDisk[4242] ?? 0) ^ 0x01;
    await writeFile(path, onDisk);
    const err = await t
      .get('rot/me')
      .then(readAll)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/corrupt/);
    // A range read cannot be checked by the client, but the caller's own hash still tells.
    const slice = await readAll(await t.get('rot/me', { start: 4000, end: 4999 }));
    expect(sha256Hex(slice)).not.toBe(sha256Hex(bytes.subarray(4000, 5000)));
  });

  it('rejects a range past the end', async () => {
    const t = target();
    const bytes = patternBytes(10, 7);
    await t.put('tiny', bufferBody(bytes), { sha256: sha256Hex(bytes) });
    expect(await readAll(await t.get('tiny', { start: 0, end: 0 }))).toEqual(bytes.subarray(0, 1));
    await expect(t.get('tiny', { start: 10 })).rejects.toBeInstanceOf(PermanentError);
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
      emu = await startGcsEmulator({ dir, port });
    }
    expect(await readAll(await t.get('outage/k'))).toEqual(bytes);
  });

  it('pages a listing with the pageToken as cursor', async () => {
    const t = target({ prefix: 'paging' });
    const keys = Array.from({ length: 7 }, (_, i) => `p/${i}`);
    for (const key of keys) await t.put(key, bufferBody(Buffer.from(key)), { sha256: sha256Hex(key) });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await t.list('p/', cursor === undefined ? { limit: 3 } : { limit: 3, cursor });
      expect(page.objects.length).toBeLessThanOrEqual(3);
      seen.push(...page.objects.map((o) => o.key));
      cursor = page.next;
      pages++;
    } while (cursor !== undefined);
    expect(seen).toEqual(keys);
    expect(pages).toBe(3);
  });
});

// The same suite against fsouza/fake-gcs-server, where a Docker engine runs.
const fake = await startFakeGcs();
const fakeBucket = `fleet-${randomUUID().slice(0, 8)}`;
if (fake) await new Storage({ apiEndpoint: fake.endpoint, projectId: 'test' }).createBucket(fakeBucket);
afterAll(() => fake?.stop());

if (fake) {
  describeConformance('gcs (fake-gcs-server via testcontainers)', async () => ({
    target: new GcsTarget({
      name: 'gcs-fake',
      bucket: fakeBucket,
      prefix: `conformance-${randomUUID().slice(0, 8)}`,
      apiEndpoint: fake.endpoint,
      projectId: 'test',
      retries: 0,
    }),
    cleanup: async () => undefined,
  }));
}
