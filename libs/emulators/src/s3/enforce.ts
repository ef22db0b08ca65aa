import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { assertSupportedPolicy, type BucketPolicy, evaluate, type PolicyRequest } from './iam.ts';

const require = createRequire(import.meta.url);

/** A user of the stand-in besides s3rver's own account (which stays unrestricted, as a root). */
export interface S3User {
  accessKeyId: string;
  secretAccessKey: string;
  /** The ARN the bucket policies name it by, e.g. `arn:aws:iam::123456789012:user/agent`. */
  arn: string;
}

/** The users and each bucket's policy; a user's request to a bucket without one is refused. */
export interface S3Enforcement {
  users: S3User[];
  policies: Record<string, BucketPolicy>;
  /** Told every decision on a user's request, for tests that check who did what. */
  onDecision?: (decision: Decision) => void;
}

/** Who asked for what, and whether it was allowed. */
export interface Decision {
  principal: string;
  action: string;
  resource: string;
  allowed: boolean;
}

/** The slice of a Koa context the layer reads and writes. */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}

type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

/** Lets s3rver check these users' signatures: it knows one key pair unless told more. */
export function registerUsers(users: S3User[]): void {
  const account = require('s3rver/lib/models/account') as {
    DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void };
  };
  for (const u of users) account.DUMMY_ACCOUNT.createKeyPair(u.accessKeyId, u.secretAccessKey);
}

/** The access key id a SigV4 request was signed with (header or presigned query). */
function accessKeyOf(ctx: KoaContext): string | undefined {
  const auth = ctx.headers.authorization;
  const header = typeof auth === 'string' ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
  const query = ctx.query['X-Amz-Credential'];
  return header ?? (typeof query === 'string' ? query.split('/')[0] : undefined);
}

/** Bucket and object key of a path-style request. */
function target(path: string): { bucket: string; key: string } {
  const [, bucket = '', ...rest] = path.split('/');
  return { bucket: decodeURIComponent(bucket), key: rest.map(decodeURIComponent).join('/') };
}

/** The action and resource AWS evaluates for a request, as its docs list them per operation. */
function actionOf(ctx: KoaContext, bucket: string, key: string): { action: string; resource: string } {
  const q = ctx.query;
  const m = ctx.method;
  if (key === '') {
    const resource = `arn:aws:s3:::${bucket}`;
    if (m === 'POST' && 'delete' in q) return { action: 's3:DeleteObject', resource: `${resource}/*` };
    if (m === 'GET' && 'uploads' in q) return { action: 's3:ListBucketMultipartUploads', resource };
    if (m === 'GET' || m === 'HEAD') return { action: 's3:ListBucket', resource };
    if (m === 'PUT') return { action: 's3:CreateBucket', resource };
    if (m === 'DELETE') return { action: 's3:DeleteBucket', resource };
    return { action: 's3:Unknown', resource };
  }
  const resource = `arn:aws:s3:::${bucket}/${key}`;
  if (m === 'GET' && 'uploadId' in q) return { action: 's3:ListMultipartUploadParts', resource };
  if (m === 'GET' || m === 'HEAD') return { action: 's3:GetObject', resource };
  if (m === 'DELETE')
    return { action: 'uploadId' in q ? 's3:AbortMultipartUpload' : 's3:DeleteObject', resource };
  if (m === 'PUT' || m === 'POST') return { action: 's3:PutObject', resource };
  return { action: 's3:Unknown', resource };
}

/** PutObject, CopyObject and CompleteMultipartUpload create the object; starting or adding a part does not. */
function createsObject(ctx: KoaContext, key: string): boolean {
  if (key === '') return false;
  if (ctx.method === 'PUT') return !('partNumber' in ctx.query);
  return ctx.method === 'POST' && 'uploadId' in ctx.query;
}

function refuse(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

/**
 * A Koa middleware for the front of s3rver's stack: each request of a known user is evaluated
 * against its bucket's policy (AccessDenied, 403, when refused), and a create with
 * `If-None-Match: *` is refused with 412 PreconditionFailed when the key is taken, as S3 does
 * (s3rver ignores the header). The existence check and the write are not one atomic step here, as
 * they are on S3; the tests that rely on it do not race two creators.
 */
export function enforcement(
  rules: S3Enforcement,
  objectPath: (bucket: string, key: string) => string,
): Middleware {
  for (const policy of Object.values(rules.policies)) assertSupportedPolicy(policy);
  const byKey = new Map(rules.users.map((u) => [u.accessKeyId, u]));
  return async (ctx, next) => {
    const { bucket, key } = target(ctx.path);
    const creates = createsObject(ctx, key);
    const ifNoneMatch = ctx.headers['if-none-match'];
    const user = byKey.get(accessKeyOf(ctx) ?? '');
    if (user && bucket !== '') {
      const policy = rules.policies[bucket];
      const { action, resource } = actionOf(ctx, bucket, key);
      const request: PolicyRequest = { principal: user.arn, action, resource, context: {} };
      if (action === 's3:PutObject') request.context['s3:ObjectCreationOperation'] = String(creates);
      if (typeof ifNoneMatch === 'string') request.context['s3:if-none-match'] = ifNoneMatch;
      if (action === 's3:ListBucket') request.context['s3:prefix'] = String(ctx.query.prefix ?? '');
      const allowed = policy !== undefined && evaluate(policy, request) === 'allow';
      rules.onDecision?.({ principal: user.arn, action, resource, allowed });
      if (!allowed) {
        return refuse(ctx, 403, 'AccessDenied', `${user.arn} may not ${action} on ${resource}`);
      }
    }
    if (creates && ifNoneMatch === '*' && (await exists(objectPath(bucket, key)))) {
      return refuse(
        ctx,
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
      );
    }
    await next();
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
