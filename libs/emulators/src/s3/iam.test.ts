import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  assertSupportedPolicy,
  type BucketPolicy,
  evaluate,
  type PolicyRequest,
  renderPolicy,
} from './iam.ts';

const root = new URL('../../../../', import.meta.url);
const template = readFileSync(new URL('infra/policies/s3-bucket-policy.json', root), 'utf8');
const AGENT = 'arn:aws:iam::1:user/agent';
const POOL = 'arn:aws:iam::1:user/pool';
const policy = renderPolicy<BucketPolicy>(template, {
  BUCKET: 'b',
  PREFIX: 'fleet/',
  AGENT_PRINCIPAL_ARN: AGENT,
  POOL_PRINCIPAL_ARN: POOL,
});

const ask = (principal: string, action: string, resource: string, context: Record<string, string> = {}) =>
  evaluate(policy, { principal, action, resource, context } satisfies PolicyRequest);

describe("the README's S3 bucket policy, as the stand-in evaluates it", () => {
  it('uses only what the evaluator enforces', () => {
    expect(() => assertSupportedPolicy(policy)).not.toThrow();
  });

  it('lets an agent create an object under the prefix only with If-None-Match', () => {
    const create = { 's3:ObjectCreationOperation': 'true' };
    expect(
      ask(AGENT, 's3:PutObject', 'arn:aws:s3:::b/fleet/packs/aa/x', { ...create, 's3:if-none-match': '*' }),
    ).toBe('allow');
    expect(ask(AGENT, 's3:PutObject', 'arn:aws:s3:::b/fleet/packs/aa/x', create)).toBe('deny');
    // Starting a multipart upload and sending its parts create nothing yet.
    expect(
      ask(AGENT, 's3:PutObject', 'arn:aws:s3:::b/fleet/x', { 's3:ObjectCreationOperation': 'false' }),
    ).toBe('allow');
    expect(ask(AGENT, 's3:PutObject', 'arn:aws:s3:::b/other/x', { ...create, 's3:if-none-match': '*' })).toBe(
      'deny',
    );
  });

  it('refuses an agent every read, delete and listing', () => {
    for (const action of ['s3:GetObject', 's3:DeleteObject', 's3:GetObjectVersion']) {
      expect(ask(AGENT, action, 'arn:aws:s3:::b/fleet/hosts/h/k/manifest.json')).toBe('deny');
    }
    expect(ask(AGENT, 's3:ListBucket', 'arn:aws:s3:::b', { 's3:prefix': 'fleet/' })).toBe('deny');
  });

  it('lets the pool read, delete and list its prefix, and nothing outside it', () => {
    expect(ask(POOL, 's3:GetObject', 'arn:aws:s3:::b/fleet/x')).toBe('allow');
    expect(ask(POOL, 's3:DeleteObject', 'arn:aws:s3:::b/fleet/x')).toBe('allow');
    expect(ask(POOL, 's3:ListBucket', 'arn:aws:s3:::b', { 's3:prefix': 'fleet/hosts/' })).toBe('allow');
    expect(ask(POOL, 's3:ListBucket', 'arn:aws:s3:::b', { 's3:prefix': 'elsewhere/' })).toBe('deny');
    expect(ask(POOL, 's3:GetObject', 'arn:aws:s3:::b2/fleet/x')).toBe('deny');
    expect(ask('arn:aws:iam::1:user/someone', 's3:GetObject', 'arn:aws:s3:::b/fleet/x')).toBe('deny');
  });

  it('refuses a condition operator it does not enforce, rather than ignoring it', () => {
    const odd: BucketPolicy = {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: '*',
          Resource: '*',
          Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
        },
      ],
    };
    expect(() => assertSupportedPolicy(odd)).toThrow('IpAddress');
  });
});

describe('the policies the README documents', () => {
  it('are the files the stand-ins enforce, word for word', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    for (const file of ['s3-bucket-policy.json', 'gcs-bucket-iam.json']) {
      expect(readme).toContain(readFileSync(new URL(`infra/policies/${file}`, root), 'utf8').trim());
    }
  });
});
