/**
 * Conformance cases for puts and reads that do not finish: cancelled by their signal, cut short,
 * failing midway, or abandoned by the reader. Registered by describeConformance for every target.
 */
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { NotFoundError, StorageError } from '../errors.ts';
import { listAll } from '../repository.ts';
import type { StorageTarget } from '../target.ts';
import { bufferBody, MiB, patternBytes, patternSlice, readAll, sha256Hex } from './data.ts';

const SLOW = 120_000;

/** A body the test feeds by hand: `feed` pushes bytes, `fail` errors it, `end` ends it. */
function manualBody() {
  let fed = 0;
  let wanted: (() => void) | undefined;
  const stream = new Readable({
    highWaterMark: 64 * 1024,
    read() {
      wanted?.();
      wanted = undefined;
    },
  });
  return {
    stream,
    /** Resolves once the consumer has asked for more than what was fed so far. */
    drained: () => new Promise<void>((resolve) => (wanted = resolve)),
    feed(bytes: Buffer) {
      fed += bytes.length;
      stream.push(bytes);
    },
    fail: (err: Error) => stream.destroy(err),
    get fed() {
      return fed;
    },
  };
}

/** Nothing under the key: head and get say NotFound, and no listing shows it. */
async function expectAbsent(t: StorageTarget, key: string, dir: string): Promise<void> {
  await expect(t.head(key)).rejects.toBeInstanceOf(NotFoundError);
  await expect(t.get(key)).rejects.toBeInstanceOf(NotFoundError);
  expect((await t.list(dir)).objects.map((o) => o.key)).not.toContain(key);
}

/** The first rejection of a promise, or undefined when it resolves. */
function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

export function registerCancellationChecks(target: () => StorageTarget, run: string): void {
  it(
    'leaves nothing under the key when a put is aborted by its signal midway',
    async () => {
      const t = target();
      const key = `${run}cancel/put-aborted`;
      const size = 12 * MiB;
      const body = manualBody();
      const controller = new AbortController();
      const put = failureOf(
        t.put(key, body.stream, { sha256: sha256Hex('unused'), size, signal: controller.signal }),
      );
      body.feed(patternSlice(21, 0, 2 * MiB));
      await body.drained();
      await expectAbsent(t, key, `${run}cancel/`);
      controller.abort(new Error('cancelled by the test'));
      expect(await put).toBeInstanceOf(Error);
      expect(body.stream.destroyed).toBe(true);
      await expectAbsent(t, key, `${run}cancel/`);
    },
    SLOW,
  );

  it('refuses a put whose body is shorter than its size, and stores nothing', async () => {
    const t = target();
    const key = `${run}cancel/short-body`;
    const bytes = patternBytes(100_000, 22);
    const put = t.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length + 1 });
    await expect(put).rejects.toBeInstanceOf(StorageError);
    await expectAbsent(t, key, `${run}cancel/`);
  });

  it(
    'never shows an upload in progress, nor one whose body failed midway',
    async () => {
      const t = target();
      const key = `${run}cancel/failed-body`;
      const body = manualBody();
      const put = failureOf(t.put(key, body.stream, { sha256: sha256Hex('unused'), size: 12 * MiB }));
      body.feed(patternSlice(23, 0, 3 * MiB));
      await body.drained();
      await expectAbsent(t, key, `${run}cancel/`);
      const broken = new Error('source disk failed');
      body.fail(broken);
      expect(await put).toBeInstanceOf(Error);
      await expectAbsent(t, key, `${run}cancel/`);
    },
    SLOW,
  );

  it(
    'errors a get aborted midway, and releases its connection',
    async () => {
      const t = target();
      const key = `${run}cancel/read-me`;
      const bytes = patternBytes(4 * MiB, 24);
      await t.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
      // More aborted reads than an HTTP client's connection pool holds: a leak would hang the last get.
      for (let i = 0; i < 60; i++) {
        const controller = new AbortController();
        const stream = await t.get(key, undefined, controller.signal);
        const reading = (async () => {
          for await (const _ of stream) controller.abort(new Error('reader gave up'));
        })();
        expect(await failureOf(reading)).toBeInstanceOf(Error);
        expect(stream.destroyed).toBe(true);
      }
      expect(sha256Hex(await readAll(await t.get(key)))).toBe(sha256Hex(bytes));
    },
    SLOW,
  );

  it('releases a get whose reader stops early, and serves the next one', async () => {
    const t = target();
    const key = `${run}cancel/read-early`;
    const bytes = patternBytes(3 * MiB, 25);
    await t.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
    for (let i = 0; i < 60; i++) {
      const stream = await t.get(key);
      for await (const _ of stream) break;
      expect(stream.destroyed).toBe(true);
    }
    expect(sha256Hex(await readAll(await t.get(key)))).toBe(sha256Hex(bytes));
  });

  it(
    'survives a listing cancelled midway, and lists in full afterwards',
    async () => {
      const t = target();
      const dir = `${run}cancel/listing/`;
      const keys = Array.from({ length: 25 }, (_, i) => `${dir}k${String(i).padStart(3, '0')}`);
      for (const key of keys)
        await t.put(key, bufferBody(Buffer.from(key)), { sha256: sha256Hex(key), size: key.length });
      let seen = 0;
      for await (const _ of listAll(t, dir, 10)) if (++seen === 12) break;
      expect(seen).toBe(12);
      const all: string[] = [];
      for await (const o of listAll(t, dir, 10)) all.push(o.key);
      expect(all).toEqual(keys);
    },
    SLOW,
  );
}
