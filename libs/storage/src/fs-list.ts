import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from './fs-errors.ts';
import { compareKeys, isValidKey, splitPrefix } from './keys.ts';
import type { ListPage, ObjectInfo } from './target.ts';

/** Largest page a list call returns; S3 and GCS cap pages at 1,000 too. */
export const MAX_LIST_LIMIT = 1000;

/** Inputs of one listing over a directory tree. */
export interface FsListRequest {
  root: string;
  prefix: string;
  /** Only keys strictly after this one (the decoded cursor). */
  after: string | undefined;
  limit: number;
  /** Top-level directory names that hold no objects (the temp dir). */
  hidden: ReadonlySet<string>;
}

interface Candidate {
  key: string;
  path: string;
}

interface WalkItem {
  name: string;
  dir: boolean;
  /** The entry's key, with a trailing '/' for directories so siblings sort as their keys do. */
  sortKey: string;
}

/** Entries of one directory that may hold keys starting with the prefix, in key byte order. */
async function sortedItems(dirPath: string, keyPrefix: string, partial: string, req: FsListRequest) {
  let entries: Dirent[];
  try {
    entries = await readdir(dirPath, { withFileTypes: true });
  } catch (err) {
    // The prefix points into a directory that does not exist (or is a file): nothing to list.
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw err;
  }
  const items: WalkItem[] = [];
  for (const entry of entries) {
    if (!entry.name.startsWith(partial)) continue;
    if (keyPrefix === '' && req.hidden.has(entry.name)) continue;
    // Symlinks and special files are skipped: they could point outside the root.
    const dir = entry.isDirectory();
    if (!dir && !entry.isFile()) continue;
    // Names no key could produce (backslashes, …) were not written by us; leave them out.
    if (!isValidKey(keyPrefix + entry.name)) continue;
    items.push({ name: entry.name, dir, sortKey: keyPrefix + entry.name + (dir ? '/' : '') });
  }
  // 'a-b' sorts before 'a/x' by bytes ('-' < '/'), so compare 'a/' rather than the bare name 'a'.
  return items.sort((x, y) => compareKeys(x.sortKey, y.sortKey));
}

/** True when every key under a directory whose keys all start with `dirKey` is <= `after`. */
function subtreeBefore(dirKey: string, after: string | undefined): boolean {
  return after !== undefined && !after.startsWith(dirKey) && compareKeys(dirKey, after) < 0;
}

/**
 * Yields files in key byte order, depth first, descending only into directories that can
 * hold keys after the cursor: a page deep into a large tree costs a walk of its own path, not the tree.
 */
async function* walk(
  dirPath: string,
  keyPrefix: string,
  partial: string,
  req: FsListRequest,
): AsyncGenerator<Candidate> {
  for (const item of await sortedItems(dirPath, keyPrefix, partial, req)) {
    const path = join(dirPath, item.name);
    if (item.dir) {
      if (subtreeBefore(item.sortKey, req.after)) continue;
      yield* walk(path, item.sortKey, '', req);
    } else if (req.after === undefined || compareKeys(item.sortKey, req.after) > 0) {
      yield { key: item.sortKey, path };
    }
  }
}

/** Sizes of the candidates; files deleted since the walk saw them are dropped. */
async function withSizes(candidates: Candidate[]): Promise<ObjectInfo[]> {
  const infos = await Promise.all(
    candidates.map(async (c): Promise<ObjectInfo | undefined> => {
      try {
        return { key: c.key, size: (await stat(c.path)).size };
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return undefined;
        throw err;
      }
    }),
  );
  return infos.filter((i): i is ObjectInfo => i !== undefined);
}

/** Encodes the last key of a page as an opaque cursor. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** Decodes a cursor from encodeCursor; undefined when it is not one. */
export function decodeCursor(cursor: string): string | undefined {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  return isValidKey(key) && encodeCursor(key) === cursor ? key : undefined;
}

/**
 * One page of keys under `req.prefix`. Only the directory the prefix points into is walked
 * (plus the subtrees after the cursor), and the walk stops one key past the page.
 */
export async function listFsPage(req: FsListRequest): Promise<ListPage> {
  const { dirs, partial } = splitPrefix(req.prefix);
  if (dirs[0] !== undefined && req.hidden.has(dirs[0])) return { objects: [] };
  const keyPrefix = dirs.length > 0 ? `${dirs.join('/')}/` : '';
  const candidates: Candidate[] = [];
  // One extra key tells whether a next page exists without returning an empty last page.
  for await (const c of walk(join(req.root, ...dirs), keyPrefix, partial, req)) {
    candidates.push(c);
    if (candidates.length > req.limit) break;
  }
  const page = candidates.slice(0, req.limit);
  const objects = await withSizes(page);
  const last = page.at(-1);
  const more = candidates.length > req.limit && last !== undefined;
  return more ? { objects, next: encodeCursor(last.key) } : { objects };
}
