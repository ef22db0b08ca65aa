/**
 * The S3 and GCS adapters, alone and wrapped in RetryingTarget, driven through the fault proxy one
 * fault type at a time (30% of requests): no error may escape as an uncaught exception or an
 * unhandled rejection, and through RetryingTarget every put lands and every read returns exactly
 * the object's bytes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  type GcsEmulator,
  S3_EMULATOR_CREDENTIALS,
  type S3Emulator,
  startGcsEmulator,
  startS3Emulator,
} from '@fleet-backup/emulators';
import { RetryingTarget, type StorageTarget } from '@fleet-backup/storage';
import { GcsTarget } from '@fleet-backup/storage/gcs';
import { S3Target } from '@fleet-backup/storage/s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FaultKind, type FaultProxy, startFaultProxy } from '../support/fault-proxy.ts';

const FAULTS: FaultKind[] = ['http500', 'http503', 'dropAfterAnswer', 'dropBeforeForward', 'delay'];
const RETRY = { initialDelayMs: 50, maxDelayMs: 1000, deadlineMs: 60_000 };
const OBJECTS = 8;

let dir: string;
let gcs: GcsEmulator;
let s3: S3Emulator;
const bucket = `fbt-streams-${randomUUID().slice(0, 6)}`;

/** Uncaught errors and unhandled rejections seen while a test runs: each one would end a role. */
const escaped: string[] = [];
const onEscape = (err: unknown) =>
  escaped.push(err instanceof Error ? `${err.name}: ${err.message}` : String(err));

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-cloud-streams-'));
  gcs = await startGcsEmulator({ dir: path.join(dir, 'gcs') });
  await gcs.createBucket(bucket);
  s3 = await startS3Emulator({ dir: path.join(dir, 's3'), buckets: [bucket] });
});
afterAll(async () => {
  await gcs?.stop();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  escaped.length = 0;
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
afterEach(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

function gcsTarget(proxy: FaultProxy, retries: number): GcsTarget {
  const prefix = `p-${randomUUID().slice(0, 8)}`;
  return new GcsTarget({ name: 'gcs', bucket, prefix, apiEndpoint: proxy.endpoint, projectId: 't', retries });
}

function s3Target(proxy: FaultProxy, maxAttempts: number): S3Target {
  const prefix = `p-${randomUUID().slice(0, 8)}`;
  const opts = { name: 's3', bucket, prefix, endpoint: proxy.endpoint, forcePathStyle: true };
  return new S3Target({ ...opts, credentials: S3_EMULATOR_CREDENTIALS, checksums: 'none', maxAttempts });
}

const objectBytes = (i: number) => Buffer.alloc(i % 3 === 0 ? 600_000 : 5000 + i, i + 1);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every operation on every object, four at a time; returns the failures by error name. */
async function workload(t: StorageTarget, strict: boolean): Promise<Record<string, number>> {
  const failures: Record<string, number> = {};
  const attempt = async (op: () => Promise<unknown>) => {
    try {
      await op();
    } catch (err) {
      if (strict) throw err;
      const name = (err as Error).name;
      failures[name] = (failures[name] ?? 0) + 1;
    }
  };
  const lanes = Array.from({ length: 4 }, async (_, lane) => {
    for (let i = lane; i < OBJECTS; i += 4) {
      const bytes = objectBytes(i);
      const key = `obj/${i}`;
      await attempt(() =>
        t.put(key, () => Readable.from([bytes]), { sha256: sha(bytes), size: bytes.length }),
      );
      await attempt(async () => expect((await t.head(key)).size).toBe(bytes.length));
      await attempt(async () => expect(sha(await readAll(await t.get(key)))).toBe(sha(bytes)));
      await attempt(async () =>
        expect(await readAll(await t.get(key, { start: 100, end: 4099 }))).toEqual(bytes.subarray(100, 4100)),
      );
      await attempt(() => t.list('obj/'));
    }
  });
  await Promise.all(lanes);
  await attempt(async () => {
    for (let i = 0; i < OBJECTS; i++) await t.delete(`obj/${i}`);
  });
  return failures;
}

describe.each([
  ['GCS', (p: FaultProxy, sdkRetries: number) => gcsTarget(p, sdkRetries), () => gcs.endpoint],
  ['S3', (p: FaultProxy, sdkRetries: number) => s3Target(p, sdkRetries + 1), () => s3.endpoint],
] as const)('%s through one fault type at a time', (label, make, upstream) => {
  for (const fault of FAULTS) {
    it(`${fault}: no error escapes, and RetryingTarget delivers every object exactly`, async () => {
      const proxy = await startFaultProxy({ upstream: upstream(), seed: 11, rate: 0.3, faults: [fault] });
      try {
        // The adapter alone, with the client's own retries as production would have them.
        const plain = await workload(make(proxy, 3), false);
        // Wrapped, as every configured target is: everything succeeds.
        await workload(new RetryingTarget(make(proxy, 1), { policy: RETRY }), true);
        await new Promise((r) => setTimeout(r, 500));
        const injected = proxy.counts[fault];
        console.log(
          `${label} ${fault}: ${injected} faults injected, plain adapter failures ${JSON.stringify(plain)}, ${escaped.length} escaped`,
        );
        expect(injected).toBeGreaterThan(10);
        expect(escaped).toEqual([]);
      } finally {
        await proxy.stop();
      }
    }, 240_000);
  }
});

describe('a GCS read abandoned before its response arrived', () => {
  it('neither crashes nor leaks when the caller aborts during a slow response', async () => {
    const proxy = await startFaultProxy({ upstream: gcs.endpoint, seed: 3 });
    try {
      const t = gcsTarget(proxy, 0);
      const bytes = objectBytes(1);
      await t.put('slow', Readable.from([bytes]), { sha256: sha(bytes), size: bytes.length });
      proxy.configure({ rate: 1, faults: ['delay'] });
      for (let i = 0; i < 5; i++) {
        const controller = new AbortController();
        setTimeout(() => controller.abort(new Error('job cancelled')), 200);
        await expect(t.get('slow', undefined, controller.signal)).rejects.toThrow('job cancelled');
      }
      // The delayed responses arrive after the aborts.
      await new Promise((r) => setTimeout(r, 3500));
      proxy.configure({ rate: 0 });
      expect(sha(await readAll(await t.get('slow')))).toBe(sha(bytes));
      expect(escaped).toEqual([]);
    } finally {
      await proxy.stop();
    }
  }, 60_000);
});
