/**
 * The behaviour every StorageTarget must show, as one vitest suite that each adapter's tests
 * run against a real backend (compare kopia's blobtesting and restic's backend/test).
 * All keys live under a random run prefix, so the suite can share a bucket with other runs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, NotFoundError, PermanentError } from '../errors.ts';
import { hashStream } from '../integrity.ts';
import type { StorageTarget } from '../target.ts';
import { registerCancellationChecks } from './cancellation-checks.ts';
import {
  bufferBody,
  MiB,
  mapLimit,
  patternBytes,
  patternSlice,
  patternStream,
  readAll,
  sha256Hex,
} from './data.ts';
import { collectPages, expectListing, listingKeys, putListingKeys } from './list-checks.ts';

// Helpers adapter-specific tests can reuse.
export { bufferBody, MiB, patternBytes, patternSlice, patternStream, readAll, sha256Hex } from './data.ts';
export { type Fault, type FaultOp, FaultyTarget, type FaultyTargetOptions } from './faulty-target.ts';

export interface ConformanceContext {
  target: StorageTarget;
  cleanup: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Size of the object that must cross the adapter's multipart/chunk threshold; default 24 MiB. */
  largeObjectBytes?: number;
}

const SLOW = 300_000;
const INVALID_KEYS = [
  '../x',
  '/abs',
  'a//b',
  '',
  'a/./b',
  'a/../b',
  'a/',
  'back\\slash',
  'nul\0byte',
  'tab\there',
];
const ODD_KEYS = [
  'dir with space/héllo wörld ✓.txt',
  'unicode/日本語/ファイル.bak',
  'unicode/emoji 🎉.config',
  // Characters that URL encoders, query strings and signers each treat differently.
  'unicode/a+b=c&d%20e?f#g.txt',
  'unicode/ leading and trailing spaces .txt',
];

async function putBytes(target: StorageTarget, key: string, bytes: Buffer): Promise<void> {
  await target.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
}

async function getBytes(target: StorageTarget, key: string, range?: { start: number; end?: number }) {
  return readAll(await target.get(key, range));
}

async function listedKeys(target: StorageTarget, prefix: string): Promise<string[]> {
  return (await collectPages(target, prefix, 1000)).keys;
}

/** Registers the conformance suite for the target that `setup` creates (once, before all tests). */
export function describeConformance(
  label: string,
  setup: () => Promise<ConformanceContext>,
  opts: ConformanceOptions = {},
): void {
  const largeBytes = opts.largeObjectBytes ?? 24 * MiB;
  describe(`StorageTarget conformance: ${label}`, () => {
    const run = `conformance-${randomUUID().slice(0, 8)}/`;
    let ctx: ConformanceContext | undefined;
    const target = (): StorageTarget => {
      if (ctx === undefined) throw new Error('conformance setup did not run');
      return ctx.target;
    };

    beforeAll(async () => {
      ctx = await setup();
    }, SLOW);
    afterAll(async () => {
      await ctx?.cleanup();
    }, SLOW);

    it('round-trips put, head, get, list and delete', async () => {
      const t = target();
      const key = `${run}basic/hello.txt`;
      const bytes = Buffer.from('hello, 3-2-1\n');
      await putBytes(t, key, bytes);
      const info = await t.head(key);
      expect(info.key).toBe(key);
      expect(info.size).toBe(bytes.length);
      if (info.checksums?.sha256 !== undefined) expect(info.checksums.sha256).toBe(sha256Hex(bytes));
      expect(await getBytes(t, key)).toEqual(bytes);
      expect(await listedKeys(t, `${run}basic/`)).toEqual([key]);
      await t.delete(key);
      await expect(t.head(key)).rejects.toBeInstanceOf(NotFoundError);
      await expect(t.get(key)).rejects.toBeInstanceOf(NotFoundError);
      expect(await listedKeys(t, `${run}basic/`)).toEqual([]);
    });

    it('serves inclusive byte ranges', async () => {
      const t = target();
      const key = `${run}range/object`;
      const bytes = patternBytes(1000, 7);
      await putBytes(t, key, bytes);
      expect(await getBytes(t, key, { start: 10 })).toEqual(bytes.subarray(10));
      expect(await getBytes(t, key, { start: 10, end: 19 })).toEqual(bytes.subarray(10, 20));
      expect(await getBytes(t, key, { start: 0, end: 0 })).toEqual(bytes.subarray(0, 1));
      expect(await getBytes(t, key, { start: 999, end: 999 })).toEqual(bytes.subarray(999));
      expect(await getBytes(t, key, { start: 999 })).toEqual(bytes.subarray(999));
      // HTTP semantics: an end past the last byte is clamped.
      expect(await getBytes(t, key, { start: 990, end: 5000 })).toEqual(bytes.subarray(990));
    });

    it('stores a zero-byte object', async () => {
      const t = target();
      const key = `${run}empty/zero`;
      await putBytes(t, key, Buffer.alloc(0));
      expect((await t.head(key)).size).toBe(0);
      expect((await getBytes(t, key)).length).toBe(0);
      const { sizes } = await collectPages(t, `${run}empty/`, 1000);
      expect([...sizes]).toEqual([[key, 0]]);
    });

    it('keeps unicode keys and keys with spaces exactly', async () => {
      const t = target();
      const keys = ODD_KEYS.map((k) => `${run}odd/${k}`);
      for (const key of keys) await putBytes(t, key, Buffer.from(key, 'utf8'));
      for (const key of keys) {
        expect((await getBytes(t, key)).toString('utf8')).toBe(key);
        expect((await t.head(key)).size).toBe(Buffer.byteLength(key, 'utf8'));
      }
      expect(new Set(await listedKeys(t, `${run}odd/`))).toEqual(new Set(keys));
      expect(await listedKeys(t, `${run}odd/dir with space/`)).toEqual([`${run}odd/${ODD_KEYS[0]}`]);
    });

    it('reports missing keys as NotFoundError and deletes them idempotently', async () => {
      const t = target();
      const key = `${run}missing/never-written`;
      await expect(t.get(key)).rejects.toBeInstanceOf(NotFoundError);
      await expect(t.get(key, { start: 0, end: 9 })).rejects.toBeInstanceOf(NotFoundError);
      await expect(t.head(key)).rejects.toBeInstanceOf(NotFoundError);
      await t.delete(key);
      await t.delete(key);
      const written = `${run}missing/written-once`;
      await putBytes(t, written, Buffer.from('x'));
      await t.delete(written);
      await t.delete(written);
      await expect(t.head(written)).rejects.toBeInstanceOf(NotFoundError);
      const page = await t.list(`${run}missing/`);
      expect(page.objects).toEqual([]);
      expect(page.next).toBeUndefined();
    });

    it('rejects a body whose sha256 is wrong and stores nothing under the key', async () => {
      const t = target();
      const key = `${run}integrity/bad`;
      const bytes = patternBytes(64 * 1024, 11);
      const wrong = sha256Hex(Buffer.from('something else'));
      const put = t.put(key, bufferBody(bytes), { sha256: wrong, size: bytes.length });
      await expect(put).rejects.toBeInstanceOf(PermanentError);
      await expect(t.head(key)).rejects.toBeInstanceOf(NotFoundError);
      await expect(t.get(key)).rejects.toBeInstanceOf(NotFoundError);
      expect(await listedKeys(t, `${run}integrity/`)).toEqual([]);
    });

    it(
      'stores a Buffer body as exactly its bytes, a view into a larger Buffer too, past the multipart threshold',
      async () => {
        const t = target();
        // A pack is a view of the Buffer it was built in: bytes outside the view must not leak in.
        const whole = patternBytes(largeBytes + 3 * 1024, 19);
        const cases = [
          { key: `${run}buffer/small`, bytes: whole.subarray(1024, 1024 + 100 * 1024) },
          { key: `${run}buffer/large`, bytes: whole.subarray(2048, 2048 + largeBytes) },
          { key: `${run}buffer/empty`, bytes: whole.subarray(0, 0) },
        ];
        for (const { key, bytes } of cases) {
          await t.put(key, bytes, { sha256: sha256Hex(bytes), size: bytes.length });
          expect((await t.head(key)).size).toBe(bytes.length);
          const back = await getBytes(t, key);
          expect(back.length).toBe(bytes.length);
          expect(sha256Hex(back)).toBe(sha256Hex(bytes));
        }
      },
      SLOW,
    );

    it('rejects a Buffer body whose sha256 or size is wrong and stores nothing under the key', async () => {
      const t = target();
      const bytes = patternBytes(64 * 1024, 23);
      const wrongSha = t.put(`${run}buffer-integrity/sha`, bytes, {
        sha256: sha256Hex(Buffer.from('something else')),
        size: bytes.length,
      });
      await expect(wrongSha).rejects.toBeInstanceOf(PermanentError);
      const wrongSize = t.put(`${run}buffer-integrity/size`, bytes, {
        sha256: sha256Hex(bytes),
        size: bytes.length + 1,
      });
      await expect(wrongSize).rejects.toBeInstanceOf(PermanentError);
      expect(await listedKeys(t, `${run}buffer-integrity/`)).toEqual([]);
    });

    it('lets concurrent puts of the same bytes under one key all succeed', async () => {
      const t = target();
      const key = `${run}concurrent/same`;
      const bytes = patternBytes(3 * MiB + 123, 13);
      const puts = Array.from({ length: 8 }, () => putBytes(t, key, bytes));
      await Promise.all(puts);
      const back = await getBytes(t, key);
      expect(back.length).toBe(bytes.length);
      expect(sha256Hex(back)).toBe(sha256Hex(bytes));
      expect(await listedKeys(t, `${run}concurrent/`)).toEqual([key]);
    });

    it('creates only when asked (ifAbsent): a taken key is refused and keeps its bytes, a Buffer or a stream', async () => {
      const t = target();
      const key = `${run}create-only/blob`;
      const first = Buffer.from('the first bytes');
      const other = patternBytes(2 * MiB + 7, 21);
      await t.put(key, first, { sha256: sha256Hex(first), size: first.length, ifAbsent: true });
      const again = t.put(key, other, { sha256: sha256Hex(other), size: other.length, ifAbsent: true });
      await expect(again).rejects.toBeInstanceOf(AlreadyExistsError);
      const streamed = t.put(key, bufferBody(other), {
        sha256: sha256Hex(other),
        size: other.length,
        ifAbsent: true,
      });
      await expect(streamed).rejects.toBeInstanceOf(AlreadyExistsError);
      expect(await getBytes(t, key)).toEqual(first);
      expect(await listedKeys(t, `${run}create-only/`)).toEqual([key]);
    });

    it('rejects invalid keys and prefixes with PermanentError', async () => {
      const t = target();
      for (const key of INVALID_KEYS) {
        const bytes = Buffer.from('x');
        const put = t.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: 1 });
        await expect(put, `put ${JSON.stringify(key)}`).rejects.toBeInstanceOf(PermanentError);
        await expect(t.get(key), `get ${JSON.stringify(key)}`).rejects.toBeInstanceOf(PermanentError);
        await expect(t.head(key), `head ${JSON.stringify(key)}`).rejects.toBeInstanceOf(PermanentError);
        await expect(t.delete(key), `delete ${JSON.stringify(key)}`).rejects.toBeInstanceOf(PermanentError);
      }
      for (const prefix of ['/abs', '../', 'a//b']) {
        await expect(t.list(prefix), `list ${prefix}`).rejects.toBeInstanceOf(PermanentError);
      }
    });

    it(
      `lists more than 1,000 keys by prefix, in byte order, across pages`,
      async () => {
        const t = target();
        const base = `${run}list/`;
        const keys = listingKeys(base);
        await putListingKeys(t, keys);
        await expectListing(t, base, 1000, keys);
        await expectListing(t, base, 100, keys);
        // A prefix ending inside a segment matches sibling names, not only one directory.
        await expectListing(
          t,
          `${base}g`,
          100,
          keys.filter((k) => k.startsWith(`${base}g`)),
        );
        await expectListing(
          t,
          `${base}g/`,
          1000,
          keys.filter((k) => k.startsWith(`${base}g/`)),
        );
        await expectListing(t, `${base}nothing-here`, 1000, []);
      },
      SLOW,
    );

    registerCancellationChecks(target, run);

    it(
      `streams an object of ${largeBytes} bytes past the multipart threshold`,
      async () => {
        const t = target();
        const key = `${run}large/object`;
        const seed = 17;
        const expected = await hashStream(patternStream(largeBytes, seed));
        await t.put(key, patternStream(largeBytes, seed), { sha256: expected.sha256, size: largeBytes });
        expect((await t.head(key)).size).toBe(largeBytes);
        expect(await hashStream(await t.get(key))).toEqual(expected);
        // Ranges that straddle common part sizes (5, 8 and 16 MiB) and the last bytes.
        const starts = [5 * MiB - 16, 8 * MiB - 16, 16 * MiB - 16, largeBytes - 32].filter(
          (s) => s >= 0 && s < largeBytes,
        );
        await mapLimit(starts, 4, async (start) => {
          const range = { start, end: Math.min(start + 31, largeBytes - 1) };
          const bytes = await getBytes(t, key, range);
          expect(bytes).toEqual(patternSlice(seed, range.start, range.end - range.start + 1));
        });
      },
      SLOW,
    );
  });
}
