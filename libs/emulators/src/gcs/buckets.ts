import type { RequestContext } from './context.ts';
import { HttpError, readJsonObject, sendJson } from './http.ts';
import { bucketResource } from './resources.ts';

/** `POST /storage/v1/b?project=…` with `{ name }`. */
export async function createBucket(ctx: RequestContext): Promise<void> {
  const body = await readJsonObject(ctx.req);
  const name = typeof body.name === 'string' ? body.name : '';
  if (!name) throw new HttpError(400, 'Required: bucket name', 'required');
  const location = typeof body.location === 'string' ? body.location.toUpperCase() : undefined;
  const storageClass = typeof body.storageClass === 'string' ? body.storageClass : undefined;
  const bucket = await ctx.store.createBucket(name, location, storageClass);
  sendJson(ctx.res, 200, bucketResource(bucket, ctx.base));
}

export async function getBucket(ctx: RequestContext, name: string): Promise<void> {
  sendJson(ctx.res, 200, bucketResource(ctx.store.requireBucket(name).bucket, ctx.base));
}

export async function listBuckets(ctx: RequestContext): Promise<void> {
  const items = ctx.store.listBuckets().map((b) => bucketResource(b, ctx.base));
  sendJson(ctx.res, 200, { kind: 'storage#buckets', ...(items.length > 0 ? { items } : {}) });
}

export async function deleteBucket(ctx: RequestContext, name: string): Promise<void> {
  await ctx.store.deleteBucket(name);
  ctx.res.writeHead(204);
  ctx.res.end();
}
