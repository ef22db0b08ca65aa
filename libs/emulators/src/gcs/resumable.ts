import { truncate } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { expectedHashProblem, FileSink, parseGoogHash } from './content.ts';
import { parseContentRange } from './content-range.ts';
import { drain, type RequestContext } from './context.ts';
import { HttpError, header, readJsonObject, sendJson } from './http.ts';
import { checkPreconditions, parsePreconditions } from './preconditions.ts';
import { attrsFromMetadata, objectResource } from './resources.ts';
import type { Session } from './sessions.ts';

/** `POST …?uploadType=resumable&name=…`: opens a session and answers its URL in `Location`. */
export async function startResumable(ctx: RequestContext, bucket: string): Promise<void> {
  ctx.store.requireBucket(bucket);
  const meta = await readJsonObject(ctx.req);
  const name = ctx.url.searchParams.get('name') || (typeof meta.name === 'string' ? meta.name : '');
  if (!name) throw new HttpError(400, 'name is required', 'required');
  const pre = parsePreconditions(ctx.url.searchParams);
  // Checked again when the upload completes; failing early spares the client a doomed upload.
  checkPreconditions(pre, ctx.store.getObject(bucket, name));
  const attrs = attrsFromMetadata(meta, header(ctx.req, 'x-upload-content-type'));
  const record = await ctx.sessions.create(bucket, name, attrs, pre);
  const location =
    `${ctx.base}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable` +
    `&name=${encodeURIComponent(name)}&upload_id=${record.id}`;
  ctx.res.writeHead(200, { Location: location, 'X-GUploader-UploadID': record.id, 'Content-Length': 0 });
  ctx.res.end();
}

/** `PUT <session URL>`: a chunk, the last chunk, or a status query, told apart by `Content-Range`. */
export async function putResumable(ctx: RequestContext, id: string): Promise<void> {
  const session = await ctx.sessions.get(id);
  if (!session) {
    const done = ctx.sessions.finishedObject(id);
    if (!done)
      throw new HttpError(404, 'No such upload session (it expired, was cancelled or never existed).');
    // A retried final PUT or a status query after completion gets the object again.
    await drain(ctx.req);
    sendJson(ctx.res, 200, objectResource(done, ctx.base));
    return;
  }
  await ctx.sessions.serialize(session, () => putChunk(ctx, session));
}

/** `DELETE <session URL>`: cancels the upload, as GCS does with 499. */
export async function cancelResumable(ctx: RequestContext, id: string): Promise<void> {
  const session = await ctx.sessions.get(id);
  if (!session) throw new HttpError(404, 'No such upload session.');
  await ctx.sessions.serialize(session, () => ctx.sessions.end(id));
  ctx.res.writeHead(499, { 'Content-Length': 0 });
  ctx.res.end();
}

async function putChunk(ctx: RequestContext, session: Session): Promise<void> {
  const range = parseContentRange(header(ctx.req, 'content-range'));
  const record = session.record;
  if (range.start === undefined) {
    // `bytes */N` or `bytes */*`: no data, finalize at N if everything arrived, else report progress.
    await drain(ctx.req);
    if (range.total !== undefined && range.total === record.received) return finalize(ctx, session);
    if (range.total !== undefined && range.total < record.received) {
      throw new HttpError(
        400,
        `Upload already has ${record.received} bytes, more than the total ${range.total}.`,
      );
    }
    return incomplete(ctx.res, record.received);
  }
  if (range.start > record.received) {
    throw new HttpError(
      400,
      `Invalid request. According to the Content-Range header, the upload offset is ${range.start} byte(s), ` +
        `which exceeds already uploaded size of ${record.received} byte(s).`,
    );
  }
  await receiveChunk(ctx, session, record.received - range.start);
  if (range.total !== undefined && record.received > range.total) {
    throw new HttpError(
      400,
      `Received ${record.received} bytes, more than the declared total ${range.total}.`,
    );
  }
  const last = range.end === undefined || (range.total !== undefined && record.received === range.total);
  if (last && (range.total === undefined || record.received === range.total)) return finalize(ctx, session);
  return incomplete(ctx.res, record.received);
}

/**
 * Appends the request body to the part file, skipping `overlap` bytes the server already has.
 * A chunk lands whole or not at all: on a broken connection the part file is cut back.
 */
async function receiveChunk(ctx: RequestContext, session: Session, overlap: number): Promise<void> {
  const record = session.record;
  const hasher = session.hasher.fork();
  const sink = await FileSink.open(session.partFile, hasher, record.received);
  let skip = overlap;
  try {
    for await (const chunk of ctx.req) {
      let buf = chunk as Buffer;
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        buf = buf.subarray(n);
        skip -= n;
      }
      await sink.write(buf);
    }
  } catch (err) {
    await sink.close();
    await truncate(session.partFile, record.received);
    throw err;
  }
  await sink.close();
  session.hasher = hasher;
  record.received = hasher.size;
  await ctx.sessions.save(record);
}

async function finalize(ctx: RequestContext, session: Session): Promise<void> {
  const { id, bucket, name, attrs, pre } = session.record;
  const digest = session.hasher.digest();
  const problem = expectedHashProblem(digest, parseGoogHash(header(ctx.req, 'x-goog-hash')));
  if (problem) {
    await ctx.sessions.end(id);
    throw new HttpError(400, problem, 'invalid');
  }
  try {
    const obj = await ctx.store.commit(bucket, name, session.partFile, digest, attrs, pre);
    await ctx.sessions.end(id, obj);
    sendJson(ctx.res, 200, objectResource(obj, ctx.base));
  } catch (err) {
    // A failed precondition or a vanished bucket ends the session for good, as on GCS.
    if (err instanceof HttpError) await ctx.sessions.end(id);
    throw err;
  }
}

/** 308 with `Range: bytes=0-N` (no Range when nothing has arrived yet). */
function incomplete(res: ServerResponse, received: number): void {
  const headers: Record<string, string | number> = { 'Content-Length': 0 };
  if (received > 0) headers.Range = `bytes=0-${received - 1}`;
  res.writeHead(308, headers);
  res.end();
}
