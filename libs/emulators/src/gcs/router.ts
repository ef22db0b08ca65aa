import { createBucket, deleteBucket, getBucket, listBuckets } from './buckets.ts';
import type { RequestContext } from './context.ts';
import { HttpError, header, sendError } from './http.ts';
import { type Grant, grantFor, PERMISSIONS } from './iam.ts';
import { deleteObject, getObject, listObjects } from './objects.ts';
import { cancelResumable, putResumable, startResumable } from './resumable.ts';
import { multipartUpload, simpleUpload } from './simple-uploads.ts';

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `Malformed URL segment: ${segment}`);
  }
}

function notFound(ctx: RequestContext): HttpError {
  return new HttpError(404, `Not Found: ${ctx.req.method} ${ctx.url.pathname}`, 'notFound');
}

/**
 * Dispatches on the raw (still percent-encoded) path: object names arrive encoded, `/` as %2F,
 * so the path is split before decoding and the name is everything after `/o/`.
 */
async function route(ctx: RequestContext): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  let parts = ctx.url.pathname.split('/').slice(1);
  const area = parts[0];
  if (area === 'upload' || area === 'download') parts = parts.slice(1);
  if (parts[0] !== 'storage' || parts[1] !== 'v1' || parts[2] !== 'b') throw notFound(ctx);
  const bucket = parts[3] === undefined ? undefined : decode(parts[3]);
  const hasObjects = parts[4] === 'o';
  const rawName = parts.slice(5).join('/');

  const grant =
    ctx.enforce && bucket
      ? grantFor(ctx.enforce, header(ctx.req, 'authorization') ?? undefined, bucket)
      : undefined;
  if (area === 'upload') {
    if (!bucket || !hasObjects || rawName !== '') throw notFound(ctx);
    if (grant) authorizeUpload(ctx, grant, bucket);
    return routeUpload(ctx, method, bucket);
  }
  if (ctx.enforce && !bucket)
    throw new HttpError(403, 'bucket administration is not allowed here', 'forbidden');
  if (bucket === undefined || bucket === '') {
    if (method === 'POST') return createBucket(ctx);
    if (method === 'GET') return listBuckets(ctx);
    throw notFound(ctx);
  }
  if (!hasObjects) {
    if (parts.length > 4 && parts[4] !== '') throw notFound(ctx);
    grant?.require('storage.buckets.get', `bucket ${bucket}`);
    if (method === 'GET') return getBucket(ctx, bucket);
    if (method === 'DELETE') return deleteBucket(ctx, bucket);
    throw notFound(ctx);
  }
  ctx.store.requireBucket(bucket);
  if (rawName === '') {
    grant?.require(PERMISSIONS.LIST, `bucket ${bucket}`);
    if (method === 'GET') return listObjects(ctx, bucket);
    throw notFound(ctx);
  }
  const name = decode(rawName);
  grant?.require(method === 'DELETE' ? PERMISSIONS.DELETE : PERMISSIONS.GET, `${bucket}/${name}`);
  if (method === 'GET' || method === 'HEAD') {
    if (area === 'download') ctx.url.searchParams.set('alt', 'media');
    return getObject(ctx, bucket, name);
  }
  if (method === 'DELETE') return deleteObject(ctx, bucket, name);
  throw notFound(ctx);
}

/**
 * An upload needs storage.objects.create; replacing an object needs delete too. A member without
 * delete (objectCreator) has every upload made create-only (ifGenerationMatch=0, checked again as
 * the object lands), and one aimed at a taken name refused at once, as GCS refuses it with 403.
 */
function authorizeUpload(ctx: RequestContext, grant: Grant, bucket: string): void {
  grant.require(PERMISSIONS.CREATE, `bucket ${bucket}`);
  if (grant.mayOverwrite || ctx.url.searchParams.has('upload_id')) return;
  const params = ctx.url.searchParams;
  const name = params.get('name');
  const explicit = params.get('ifGenerationMatch') === '0';
  if (name && !explicit && ctx.store.getObject(bucket, name)) {
    throw new HttpError(
      403,
      `${grant.member} does not have storage.objects.delete access to ${bucket}/${name}.`,
      'forbidden',
    );
  }
  params.set('ifGenerationMatch', '0');
}

async function routeUpload(ctx: RequestContext, method: string, bucket: string): Promise<void> {
  const uploadId = ctx.url.searchParams.get('upload_id');
  if (uploadId) {
    if (method === 'PUT' || method === 'POST') return putResumable(ctx, uploadId);
    if (method === 'DELETE') return cancelResumable(ctx, uploadId);
    throw notFound(ctx);
  }
  if (method !== 'POST') throw notFound(ctx);
  const uploadType = ctx.url.searchParams.get('uploadType');
  if (uploadType === 'media') return simpleUpload(ctx, bucket);
  if (uploadType === 'multipart') return multipartUpload(ctx, bucket);
  if (uploadType === 'resumable') return startResumable(ctx, bucket);
  throw new HttpError(400, `invalid uploadType: ${uploadType}`, 'invalidParameter');
}

/** Runs one request, turning failures into Google-shaped JSON errors. */
export async function handle(ctx: RequestContext): Promise<void> {
  try {
    await route(ctx);
  } catch (err) {
    if (ctx.res.headersSent || ctx.res.destroyed || ctx.req.socket.destroyed) {
      // Mid-stream failure or a client that went away: the connection is all we can end.
      ctx.res.destroy();
      return;
    }
    const httpErr = err instanceof HttpError ? err : new HttpError(500, String(err), 'backendError');
    sendError(ctx.res, httpErr);
  }
}
