import { type FileHandle, open } from 'node:fs/promises';
import type { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { RequestContext } from './context.ts';
import { HttpError, header, sendJson } from './http.ts';
import { listPage, parseListQuery } from './list.ts';
import { checkPreconditions, parsePreconditions } from './preconditions.ts';
import { etag, objectResource, type StoredObject } from './resources.ts';
import { noSuchObject } from './store.ts';

function findObject(ctx: RequestContext, bucket: string, name: string): StoredObject {
  const obj = ctx.store.getObject(bucket, name);
  if (!obj) throw noSuchObject(bucket, name);
  const generation = ctx.url.searchParams.get('generation');
  // Only the live generation is kept, so asking for any other one finds nothing.
  if (generation && generation !== String(obj.generation)) throw noSuchObject(bucket, name);
  checkPreconditions(parsePreconditions(ctx.url.searchParams), obj);
  return obj;
}

/** `GET /storage/v1/b/{b}/o/{name}`: metadata, or the bytes with `alt=media`. */
export async function getObject(ctx: RequestContext, bucket: string, name: string): Promise<void> {
  const obj = findObject(ctx, bucket, name);
  if (ctx.url.searchParams.get('alt') === 'media') return sendMedia(ctx, obj);
  sendJson(ctx.res, 200, objectResource(obj, ctx.base));
}

export async function deleteObject(ctx: RequestContext, bucket: string, name: string): Promise<void> {
  await ctx.store.deleteObject(bucket, name, parsePreconditions(ctx.url.searchParams));
  ctx.res.writeHead(204);
  ctx.res.end();
}

/** `GET /storage/v1/b/{b}/o?prefix=&delimiter=&maxResults=&pageToken=`. */
export async function listObjects(ctx: RequestContext, bucket: string): Promise<void> {
  const page = listPage(ctx.store.sortedNames(bucket), parseListQuery(ctx.url.searchParams));
  const items: Record<string, unknown>[] = [];
  for (const name of page.names) {
    const obj = ctx.store.getObject(bucket, name);
    if (obj) items.push(objectResource(obj, ctx.base));
  }
  // Like GCS, empty `items` and `prefixes` are left out rather than sent as [].
  sendJson(ctx.res, 200, {
    kind: 'storage#objects',
    ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
    ...(page.prefixes.length > 0 ? { prefixes: page.prefixes } : {}),
    ...(items.length > 0 ? { items } : {}),
  });
}

/** Parses `Range: bytes=a-b | a- | -n` against `size`; undefined means "serve it all". */
function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  // GCS serves an empty object whole whatever the range; multi-range requests are served whole too.
  if (!value || size === 0 || value.includes(',')) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [, a = '', b = ''] = match;
  if (a === '') {
    const n = Number(b);
    if (n === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || end < start) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): HttpError {
  return new HttpError(416, `The requested range cannot be satisfied (object size ${size}).`);
}

async function sendMedia(ctx: RequestContext, obj: StoredObject): Promise<void> {
  const range = parseRange(header(ctx.req, 'range'), obj.size);
  let fh: FileHandle;
  try {
    fh = await open(ctx.store.dataFile(obj), 'r');
  } catch {
    // Replaced or deleted between lookup and open.
    throw noSuchObject(obj.bucket, obj.name);
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? obj.size - 1;
  const headers: OutgoingHttpHeaders = {
    'Content-Type': obj.contentType,
    'Content-Length': obj.size === 0 ? 0 : end - start + 1,
    'Accept-Ranges': 'bytes',
    ETag: etag(obj),
    'Last-Modified': new Date(obj.updated).toUTCString(),
    // Together these make @google-cloud/storage validate whole-object downloads.
    'X-Goog-Hash': `crc32c=${obj.crc32c},md5=${obj.md5Hash}`,
    'X-Goog-Stored-Content-Encoding': obj.contentEncoding ?? 'identity',
    'X-Goog-Stored-Content-Length': obj.size,
    'X-Goog-Generation': obj.generation,
    'X-Goog-Metageneration': obj.metageneration,
  };
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${obj.size}`;
  ctx.res.writeHead(range ? 206 : 200, headers);
  if (ctx.req.method === 'HEAD' || obj.size === 0) {
    await fh.close();
    ctx.res.end();
    return;
  }
  await pipeline(fh.createReadStream({ start, end }), ctx.res);
}
