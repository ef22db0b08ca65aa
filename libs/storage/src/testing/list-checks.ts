import { expect } from 'vitest';
import { compareKeys } from '../keys.ts';
import type { StorageTarget } from '../target.ts';
import { bufferBody, mapLimit, sha256Hex } from './data.ts';

/** More than one 1,000-key page, so a target that ignores cursors or caps pages is caught. */
export const LIST_KEY_COUNT = 1050;
const PUT_PARALLELISM = 32;
/** Stops a target whose cursor never ends from hanging the suite. */
const MAX_PAGES = 10_000;

/** Every page of a listing, checked for page size, order and duplicates along the way. */
export async function collectPages(
  target: StorageTarget,
  prefix: string,
  limit: number,
): Promise<{ keys: string[]; sizes: Map<string, number>; pages: number }> {
  const keys: string[] = [];
  const sizes = new Map<string, number>();
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await target.list(prefix, cursor === undefined ? { limit } : { limit, cursor });
    pages++;
    expect(pages, `listing ${prefix} did not end`).toBeLessThan(MAX_PAGES);
    expect(page.objects.length, 'a page is never larger than its limit').toBeLessThanOrEqual(limit);
    for (const object of page.objects) {
      const previous = keys.at(-1);
      if (previous !== undefined) {
        expect(compareKeys(previous, object.key), `${previous} listed before ${object.key}`).toBeLessThan(0);
      }
      expect(object.key.startsWith(prefix), `${object.key} is outside prefix ${prefix}`).toBe(true);
      keys.push(object.key);
      sizes.set(object.key, object.size);
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return { keys, sizes, pages };
}

/**
 * The keys the listing checks create under `base`: three sibling groups whose names make byte
 * order differ from a per-directory walk ('g-x/' < 'g.txt' < 'g/' < 'g0'), plus two loose keys.
 */
export function listingKeys(base: string): string[] {
  const groups = ['g', 'g-x', 'h'];
  const keys = Array.from(
    { length: LIST_KEY_COUNT },
    (_, i) => `${base}${groups[i % groups.length]}/k${String(i).padStart(5, '0')}`,
  );
  return [...keys, `${base}g.txt`, `${base}g0`];
}

/** Creates the listing keys, each holding its own name, with bounded parallelism. */
export async function putListingKeys(target: StorageTarget, keys: string[]): Promise<void> {
  await mapLimit(keys, PUT_PARALLELISM, async (key) => {
    const bytes = Buffer.from(key, 'utf8');
    await target.put(key, bufferBody(bytes), { sha256: sha256Hex(bytes), size: bytes.length });
  });
}

/** Lists `prefix` with `limit` and expects exactly `expected` (sorted by bytes), each holding its name. */
export async function expectListing(
  target: StorageTarget,
  prefix: string,
  limit: number,
  expected: readonly string[],
): Promise<void> {
  const sorted = [...expected].sort(compareKeys);
  const { keys, sizes, pages } = await collectPages(target, prefix, limit);
  expect(new Set(keys).size, 'no key is listed twice').toBe(keys.length);
  expect(keys).toEqual(sorted);
  expect(pages).toBeGreaterThanOrEqual(Math.max(1, Math.ceil(sorted.length / limit)));
  for (const key of sorted) expect(sizes.get(key), key).toBe(Buffer.byteLength(key, 'utf8'));
}
