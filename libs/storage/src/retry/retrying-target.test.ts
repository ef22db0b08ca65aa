import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError, StorageError, TransientError } from '../errors.ts';
import { FsTarget } from '../fs-target.ts';
import type { ByteRange, StorageTarget } from '../target.ts';
import { bufferBody, patternBytes, readAll, sha256Hex } from '../testing/data.ts';
import { type Fault, FaultyTarget, type FaultyTargetOptions } from '../testing/faulty-target.ts';
import { RetriesExhaustedError, type RetryEvent } from './retry-policy.ts';
import { RetryingTarget } from './retrying-target.ts';

const FAST = { initialDelayMs: 1, maxDelayMs: 4, deadlineMs: 2_000 };
const transient: Fault = { type: 'error', transient: true };

let root: string;
let base: FsTarget;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'fleet-retrying-'));
  base = new FsTarget({ name: 'flaky', root });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function wrap(faults: FaultyTargetOptions, policy = FAST) {
  const faulty = new FaultyTarget(base, faults);
  const retries: RetryEvent[] = [];
  const target = new RetryingTarget(faulty, { policy, onRetry: (e) => retries.push(e) });
  return { faulty, target, retries };
}

/** Puts bytes through `target` with a body factory, counting how often the body was opened. */
async function putBytes(target: StorageTarget, key: string, bytes: Buffer): Promise<{ opened: number }> {
  const counter = { opened: 0 };
  const open = () => {
    counter.opened++;
    return bufferBody(bytes);
  };
  await target.put(key, open, { sha256: sha256Hex(bytes), size: bytes.length });
  return counter;
}

async function seed(key: string, bytes: Buffer): Promise<void> {
  await base.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
}

async function getBytes(target: StorageTarget, key: string, range?: ByteRange): Promise<Buffer> {
  return readAll(await target.get(key, range));
}

describe('RetryingTarget: puts', () => {
  it('retries a transient failure and opens the body afresh for each attempt', async () => {
    const { faulty, target, retries } = wrap({ script: { put: [transient, transient] } });
    const bytes = patternBytes(100_000, 1);
    const { opened } = await putBytes(target, 'a/b', bytes);
    expect(opened).toBe(1);
    expect(faulty.calls.put).toBe(3);
    expect(retries.map((r) => [r.op, r.key, r.attempt])).toEqual([
      ['put', 'a/b', 1],
      ['put', 'a/b', 2],
    ]);
    expect(await getBytes(base, 'a/b')).toEqual(bytes);
  });

  it('re-reads the body from the start after an upload that failed midway, and stores it whole', async () => {
    const { faulty, target } = wrap({ script: { put: [{ type: 'failMidway', bytes: 70_000 }] } });
    const bytes = patternBytes(3 * 65_536, 2);
    const { opened } = await putBytes(target, 'mid', bytes);
    expect(opened).toBe(2);
    expect(faulty.calls.put).toBe(2);
    expect(await getBytes(base, 'mid')).toEqual(bytes);
  });

  it('puts again when the answer was lost after the object was stored', async () => {
    const { faulty, target } = wrap({ script: { put: [{ type: 'errorAfter' }] } });
    const bytes = patternBytes(5000, 3);
    await putBytes(target, 'lost-answer', bytes);
    expect(faulty.calls.put).toBe(2);
    expect(await getBytes(base, 'lost-answer')).toEqual(bytes);
  });

  it('does not retry a permanent error', async () => {
    const { faulty, target, retries } = wrap({ script: { put: [{ type: 'error', transient: false }] } });
    await expect(putBytes(target, 'k', Buffer.from('x'))).rejects.toBeInstanceOf(PermanentError);
    expect(faulty.calls.put).toBe(1);
    expect(retries).toEqual([]);
  });

  it('gives a plain stream body one attempt: it cannot be read twice', async () => {
    const { faulty, target } = wrap({ script: { put: [transient] } });
    const bytes = Buffer.from('once');
    const body = bufferBody(bytes);
    const put = target.put('once', body, { sha256: sha256Hex(bytes), size: bytes.length });
    await expect(put).rejects.toBeInstanceOf(TransientError);
    expect(faulty.calls.put).toBe(1);
    expect(body.destroyed).toBe(true);
  });
});

describe('RetryingTarget: gets', () => {
  it('resumes a read that failed midway at the first byte not delivered', async () => {
    const bytes = patternBytes(5 * 65_536 + 17, 4);
    await seed('blob', bytes);
    const { faulty, target, retries } = wrap({
      script: {
        get: [
          { type: 'failMidway', bytes: 100_000 },
          { type: 'failMidway', bytes: 1 },
        ],
      },
    });
    expect(await getBytes(target, 'blob')).toEqual(bytes);
    expect(faulty.calls.get).toBe(3);
    expect(retries.map((r) => r.op)).toEqual(['resume get', 'resume get']);
  });

  it('resumes a body that ended short without an error', async () => {
    const bytes = patternBytes(200_000, 5);
    await seed('short', bytes);
    const { faulty, target } = wrap({ script: { get: [{ type: 'shortBody', bytes: 12_345 }] } });
    expect(await getBytes(target, 'short')).toEqual(bytes);
    expect(faulty.calls.get).toBe(2);
  });

  it('resumes within the range that was asked for', async () => {
    const bytes = patternBytes(300_000, 6);
    await seed('ranged', bytes);
    const { target } = wrap({ script: { get: [{ type: 'failMidway', bytes: 1000 }, transient] } });
    expect(await getBytes(target, 'ranged', { start: 5000, end: 99_999 })).toEqual(
      bytes.subarray(5000, 100_000),
    );
    const open = wrap({ script: { get: [{ type: 'shortBody', bytes: 10 }] } });
    expect(await getBytes(open.target, 'ranged', { start: 299_990 })).toEqual(bytes.subarray(299_990));
  });

  it('does not resume past the end when a read fails after its last byte', async () => {
    const bytes = patternBytes(1000, 11);
    await seed('whole', bytes);
    const { faulty, target } = wrap({ script: { get: [{ type: 'failMidway', bytes: 1000 }] } });
    expect(await getBytes(target, 'whole')).toEqual(bytes);
    expect(faulty.calls.get).toBe(1);
  });

  it('reads a zero-byte object', async () => {
    await seed('zero', Buffer.alloc(0));
    const { target } = wrap({ script: { get: [transient] } });
    expect((await getBytes(target, 'zero')).length).toBe(0);
  });

  it('reports a missing object at once, as NotFoundError', async () => {
    const { faulty, target } = wrap({});
    await expect(target.get('absent')).rejects.toBeInstanceOf(NotFoundError);
    expect(faulty.calls.head).toBe(1);
  });

  it('fails rather than splice two versions when the object changes while it is read', async () => {
    const first = patternBytes(100_000, 7);
    await seed('changing', first);
    const { target } = wrap({ script: { get: [{ type: 'failMidway', bytes: 50_000 }] } });
    const stream = await target.get('changing');
    await seed('changing', patternBytes(90_000, 8));
    await expect(readAll(stream)).rejects.toThrow(/changed while it was being read/);
  });

  it('releases the underlying stream when the reader stops early', async () => {
    await seed('early', patternBytes(4 << 20, 9));
    const opened: Readable[] = [];
    const spying: StorageTarget = Object.create(base, {
      get: {
        value: async (key: string, range?: ByteRange, signal?: AbortSignal) => {
          const s = await base.get(key, range, signal);
          opened.push(s);
          return s;
        },
      },
    });
    const target = new RetryingTarget(spying, { policy: FAST });
    const stream = await target.get('early');
    for await (const _ of stream) break;
    await new Promise((r) => setImmediate(r));
    expect(opened).toHaveLength(1);
    expect(opened[0]?.destroyed).toBe(true);
  });
});

describe('RetryingTarget: other operations, deadline and abort', () => {
  it('retries head, list and delete', async () => {
    await seed('x/1', Buffer.from('1'));
    const { faulty, target } = wrap({
      script: { head: [transient, transient], list: [transient], delete: [transient] },
    });
    expect((await target.head('x/1')).size).toBe(1);
    expect((await target.list('x/')).objects.map((o) => o.key)).toEqual(['x/1']);
    await target.delete('x/1');
    expect(faulty.calls).toMatchObject({ head: 3, list: 2, delete: 2 });
    expect(faulty.pending()).toEqual({});
  });

  it('gives up once an operation has been failing for the deadline, naming attempts and the last error', async () => {
    const always = { seed: 1, rate: 1, faults: [transient] };
    const { faulty, target } = wrap(
      { random: always },
      { initialDelayMs: 5, maxDelayMs: 20, deadlineMs: 300 },
    );
    const started = performance.now();
    const err = await target.head('k').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    const exhausted = err as RetriesExhaustedError;
    // Transient, so the job fails and BullMQ retries it later.
    expect(exhausted.transient).toBe(true);
    expect(exhausted.attempts).toBe(faulty.calls.head);
    expect(exhausted.attempts).toBeGreaterThan(3);
    expect(exhausted.cause).toBeInstanceOf(StorageError);
    expect(exhausted.message).toMatch(/^head k on target flaky still failing after \d+ attempt\(s\)/);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('stops backing off as soon as the caller aborts', async () => {
    const { faulty, target } = wrap(
      { random: { seed: 1, rate: 1, faults: [transient] } },
      { initialDelayMs: 60_000, maxDelayMs: 60_000, deadlineMs: 600_000 },
    );
    const controller = new AbortController();
    const bytes = Buffer.from('abort');
    const put = target.put('k', () => bufferBody(bytes), {
      sha256: sha256Hex(bytes),
      size: bytes.length,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('job cancelled')), 50);
    await expect(put).rejects.toThrow('job cancelled');
    expect(faulty.calls.put).toBe(1);
  });

  it('errors a read aborted midway, and does not resume it', async () => {
    await seed('aborted', patternBytes(2 << 20, 10));
    const { faulty, target } = wrap({});
    const controller = new AbortController();
    const stream = await target.get('aborted', undefined, controller.signal);
    let read = 0;
    const reading = (async () => {
      for await (const chunk of stream) {
        read += (chunk as Buffer).length;
        if (read > 100_000) controller.abort(new Error('stop'));
      }
    })();
    await expect(reading).rejects.toThrow();
    expect(faulty.calls.get).toBe(1);
  });
});

describe('RetryingTarget through a seeded mix of faults', () => {
  const faults: Fault[] = [
    transient,
    { type: 'errorAfter' },
    { type: 'delay', ms: 2 },
    { type: 'shortBody', bytes: 777 },
    { type: 'failMidway', bytes: 4096 },
  ];

  async function run(seedValue: number) {
    const { faulty, target } = wrap({ random: { seed: seedValue, rate: 0.4, faults } });
    const objects = Array.from({ length: 12 }, (_, i) => patternBytes(10_000 + i * 7919, 100 + i));
    for (const [i, bytes] of objects.entries()) await putBytes(target, `mix/${i}`, bytes);
    for (const [i, bytes] of objects.entries()) {
      expect(sha256Hex(await getBytes(target, `mix/${i}`))).toBe(sha256Hex(bytes));
      expect((await target.head(`mix/${i}`)).size).toBe(bytes.length);
    }
    expect((await target.list('mix/')).objects).toHaveLength(objects.length);
    return faulty.injected.map((f) => `${f.op} ${f.key} ${f.fault.type}`);
  }

  it('delivers every object intact, and the same seed injects the same faults', async () => {
    const first = await run(42);
    expect(first.length).toBeGreaterThan(5);
    await rm(root, { recursive: true, force: true });
    root = await mkdtemp(join(tmpdir(), 'fleet-retrying-'));
    base = new FsTarget({ name: 'flaky', root });
    expect(await run(42)).toEqual(first);
  });
});
