import { describe, expect, it } from 'vitest';
import { PermanentError } from '../errors.ts';
import { GcsTarget } from '../gcs/gcs-target.ts';
import { createGcsTargetFromUrl } from '../gcs/gcs-url.ts';
import { S3Target } from '../s3/s3-target.ts';
import { createS3TargetFromUrl } from '../s3/s3-url.ts';
import type { TargetFactoryInput } from '../target-spec.ts';

function input(url: string, options: Record<string, unknown> = {}, offsite?: boolean): TargetFactoryInput {
  return { name: 'remote', url: new URL(url), offsite, options };
}

describe('createS3TargetFromUrl', () => {
  it('reads bucket, prefix and settings from the URL', () => {
    const t = createS3TargetFromUrl(
      input(
        's3://my-bucket/fleet/prod/?endpoint=http://127.0.0.1:9000&region=eu-west-1&forcePathStyle=true&checksums=none&partSize=16MiB',
      ),
    );
    expect(t).toBeInstanceOf(S3Target);
    expect(t.bucket).toBe('my-bucket');
    expect(t.location).toBe('s3://my-bucket/fleet/prod at http://127.0.0.1:9000');
    expect(t.offsite).toBe(true);
    expect(t.kind).toBe('s3');
    t.close();
  });

  it('takes credentials only from options, and never echoes them', () => {
    const t = createS3TargetFromUrl(
      input('s3://b/p', { credentials: { accessKeyId: 'AKID', secretAccessKey: 'sekrit' } }, false),
    );
    expect(t.offsite).toBe(false);
    expect(t.location).toBe('s3://b/p at AWS us-east-1');
    t.close();
    expect(() => createS3TargetFromUrl(input('s3://AKID:sekrit@b/p'))).toThrow(
      /must not be written into the target URL/,
    );
    const bad = () =>
      createS3TargetFromUrl(input('s3://b/p', { credentials: { accessKeyId: 'AKID', secretAccessKey: 7 } }));
    expect(bad).toThrow(PermanentError);
    expect(bad).not.toThrow(/AKID/);
  });

  it('refuses unknown or malformed settings by name', () => {
    expect(() => createS3TargetFromUrl(input('s3://b/p?forcePathstyle=true'))).toThrow(
      /unknown setting\(s\) forcePathstyle/,
    );
    expect(() => createS3TargetFromUrl(input('s3://b/p?checksums=md5'))).toThrow(
      /checksums must be one of sha256, none/,
    );
    expect(() => createS3TargetFromUrl(input('s3://b/p?partSize=1MiB'))).toThrow(/at least 5 MiB/);
    expect(() => createS3TargetFromUrl(input('s3://b/a//b'))).toThrow(/empty segment/);
  });

  it('keeps secrets in endpoint URLs out of the location', () => {
    const t = createS3TargetFromUrl(input('s3://b/p', { endpoint: 'http://user:pw@minio:9000/?x=1' }));
    expect(t.location).toBe('s3://b/p at http://minio:9000');
    t.close();
  });
});

describe('createGcsTargetFromUrl', () => {
  it('reads bucket, prefix and settings from the URL', () => {
    const t = createGcsTargetFromUrl(
      input('gs://my-bucket/fleet?endpoint=http://127.0.0.1:4443&projectId=p&chunkSize=512KiB&retries=0'),
    );
    expect(t).toBeInstanceOf(GcsTarget);
    expect(t.location).toBe('gs://my-bucket/fleet at http://127.0.0.1:4443');
    expect(t.kind).toBe('gcs');
    expect(t.offsite).toBe(true);
  });

  it('refuses chunk sizes GCS would reject and unknown settings', () => {
    expect(() => createGcsTargetFromUrl(input('gs://b/p?chunkSize=1000'))).toThrow(/multiple of 256 KiB/);
    expect(() => createGcsTargetFromUrl(input('gs://b/p?projectid=x'))).toThrow(
      /unknown setting\(s\) projectid/,
    );
    expect(() => createS3TargetFromUrl(input('s3://b/p?credentials=x'))).toThrow(
      /only be given in the target options/,
    );
    expect(() => createGcsTargetFromUrl(input('gs://b/p?keyFilename=/etc/key.json'))).toThrow(
      /only be given in the target options/,
    );
    expect(createGcsTargetFromUrl(input('gs://b/p', { keyFilename: '/etc/key.json' })).location).toBe(
      'gs://b/p at https://storage.googleapis.com',
    );
  });
});
