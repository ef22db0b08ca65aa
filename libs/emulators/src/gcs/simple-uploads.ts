import { rm } from 'node:fs/promises';
import { expectedHashProblem, FileSink, parseGoogHash } from './content.ts';
import type { RequestContext } from './context.ts';
import { HttpError, header, sendJson } from './http.ts';
import { boundaryOf, receiveMultipart } from './multipart.ts';
import { parsePreconditions } from './preconditions.ts';
import { attrsFromMetadata, objectResource } from './resources.ts';

/**
 * Runs `fn` with a fresh temp file for incoming bytes; the file is removed unless `fn` committed
 * it (a commit renames it away, so removing it afterwards is a harmless no-op).
 */
async function withTempFile<T>(ctx: RequestContext, fn: (file: string) => Promise<T>): Promise<T> {
  const file = ctx.store.tmpFile();
  try {
    return await fn(file);
  } finally {
    await rm(file, { force: true });
  }
}

/** `POST /upload/storage/v1/b/{b}/o?uploadType=media&name=…`: the body is the object. */
export async function simpleUpload(ctx: RequestContext, bucket: string): Promise<void> {
  ctx.store.requireBucket(bucket);
  const name = ctx.url.searchParams.get('name');
  if (!name) throw new HttpError(400, 'name is required for simple uploads', 'required');
  const pre = parsePreconditions(ctx.url.searchParams);
  await withTempFile(ctx, async (file) => {
    const sink = await FileSink.open(file);
    try {
      for await (const chunk of ctx.req) await sink.write(chunk as Buffer);
    } finally {
      await sink.close();
    }
    const digest = sink.hasher.digest();
    const problem = expectedHashProblem(digest, parseGoogHash(header(ctx.req, 'x-goog-hash')));
    if (problem) throw new HttpError(400, problem, 'invalid');
    const encoding = ctx.url.searchParams.get('contentEncoding');
    const attrs = attrsFromMetadata(
      encoding ? { contentEncoding: encoding } : {},
      header(ctx.req, 'content-type') ?? undefined,
    );
    const obj = await ctx.store.commit(bucket, name, file, digest, attrs, pre);
    sendJson(ctx.res, 200, objectResource(obj, ctx.base));
  });
}

/** `POST …?uploadType=multipart`: a JSON metadata part, then the media part. */
export async function multipartUpload(ctx: RequestContext, bucket: string): Promise<void> {
  ctx.store.requireBucket(bucket);
  const boundary = boundaryOf(header(ctx.req, 'content-type'));
  const pre = parsePreconditions(ctx.url.searchParams);
  await withTempFile(ctx, async (file) => {
    const sink = await FileSink.open(file);
    let upload: Awaited<ReturnType<typeof receiveMultipart>>;
    try {
      upload = await receiveMultipart(ctx.req as AsyncIterable<Buffer>, boundary, sink);
    } finally {
      await sink.close();
    }
    const { metadata, mediaType } = upload;
    const name = ctx.url.searchParams.get('name') || (typeof metadata.name === 'string' ? metadata.name : '');
    if (!name) throw new HttpError(400, 'name is required', 'required');
    const digest = sink.hasher.digest();
    const fromHeader = parseGoogHash(header(ctx.req, 'x-goog-hash'));
    const problem = expectedHashProblem(digest, {
      crc32c: typeof metadata.crc32c === 'string' ? metadata.crc32c : fromHeader.crc32c,
      md5Hash: typeof metadata.md5Hash === 'string' ? metadata.md5Hash : fromHeader.md5Hash,
    });
    if (problem) throw new HttpError(400, problem, 'invalid');
    const obj = await ctx.store.commit(
      bucket,
      name,
      file,
      digest,
      attrsFromMetadata(metadata, mediaType),
      pre,
    );
    sendJson(ctx.res, 200, objectResource(obj, ctx.base));
  });
}
