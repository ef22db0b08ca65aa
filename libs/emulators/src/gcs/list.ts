import { HttpError } from './http.ts';
import { compareNames } from './store.ts';

export interface ListQuery {
  prefix: string;
  delimiter: string | undefined;
  maxResults: number;
  pageToken: string | undefined;
  startOffset: string | undefined;
  endOffset: string | undefined;
  includeTrailingDelimiter: boolean;
}

export interface ListResult {
  names: string[];
  prefixes: string[];
  nextPageToken: string | undefined;
}

/** Where the previous page stopped: the last name, or the last common prefix, it returned. */
interface Cursor {
  after: string;
  isPrefix: boolean;
}

export function parseListQuery(query: URLSearchParams): ListQuery {
  const max = query.get('maxResults');
  const maxResults = max === null || max === '' ? 1000 : Number(max);
  if (!Number.isInteger(maxResults) || maxResults < 0) {
    throw new HttpError(400, `Invalid value for maxResults: ${max}`, 'invalidParameter');
  }
  return {
    prefix: query.get('prefix') ?? '',
    delimiter: query.get('delimiter') || undefined,
    // GCS caps a page at 1000 entries whatever is asked; 0 means the default.
    maxResults: maxResults === 0 ? 1000 : Math.min(maxResults, 1000),
    pageToken: query.get('pageToken') || undefined,
    startOffset: query.get('startOffset') || undefined,
    endOffset: query.get('endOffset') || undefined,
    includeTrailingDelimiter: query.get('includeTrailingDelimiter') === 'true',
  };
}

function encodeToken(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeToken(token: string): Cursor {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof parsed.after === 'string' && typeof parsed.isPrefix === 'boolean') {
      return { after: parsed.after, isPrefix: parsed.isPrefix };
    }
  } catch {
    // fall through to the error below
  }
  throw new HttpError(400, 'Invalid page token.', 'invalid');
}

/** First index whose name is >= target. */
function lowerBound(names: string[], target: string): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareNames(names[mid]!, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One page of a listing over names sorted by UTF-8 bytes; items and prefixes share the page size, as on GCS. */
export function listPage(sorted: string[], q: ListQuery): ListResult {
  const cursor = q.pageToken ? decodeToken(q.pageToken) : undefined;
  let start = lowerBound(sorted, q.prefix);
  if (q.startOffset) start = Math.max(start, lowerBound(sorted, q.startOffset));
  if (cursor) start = Math.max(start, lowerBound(sorted, cursor.after));
  const result: ListResult = { names: [], prefixes: [], nextPageToken: undefined };
  let last: Cursor | undefined;
  let count = 0;
  for (let i = start; i < sorted.length; i++) {
    const name = sorted[i]!;
    if (!name.startsWith(q.prefix)) break;
    if (q.endOffset && compareNames(name, q.endOffset) >= 0) break;
    if (cursor && (name === cursor.after || (cursor.isPrefix && name.startsWith(cursor.after)))) continue;
    const entry = classify(name, q);
    if (entry.isPrefix && last?.isPrefix && last.after === entry.after) continue;
    if (count === q.maxResults) {
      if (last) result.nextPageToken = encodeToken(last);
      break;
    }
    if (entry.isPrefix) {
      result.prefixes.push(entry.after);
      if (q.includeTrailingDelimiter && name === entry.after) result.names.push(name);
    } else {
      result.names.push(name);
    }
    last = entry;
    count++;
  }
  return result;
}

function classify(name: string, q: ListQuery): Cursor {
  if (!q.delimiter) return { after: name, isPrefix: false };
  const idx = name.indexOf(q.delimiter, q.prefix.length);
  if (idx < 0) return { after: name, isPrefix: false };
  return { after: name.slice(0, idx + q.delimiter.length), isPrefix: true };
}
