import { describe, expect, it } from 'vitest';
import { Targets } from './targets.ts';

describe('targets with credentials named by reference', () => {
  const targets = new Targets([
    {
      name: 's3-eu',
      url: 's3://bucket/fleet?endpoint=http://127.0.0.1:9&forcePathStyle=true',
      offsite: true,
      options: { credentials: { accessKeyId: 'AKIA', secretAccessKey: { env: 'FBT_UNSET_S3_SECRET' } } },
    },
  ]);

  it('plan without the secret: kind and offsite need none', () => {
    expect(targets.refs()).toEqual([{ name: 's3-eu', kind: 's3', offsite: true }]);
  });

  it('fail the operation that needs a missing one, naming the variable and where it is asked for', async () => {
    delete process.env.FBT_UNSET_S3_SECRET;
    await expect(targets.get('s3-eu').head('any')).rejects.toThrow(
      'target s3-eu: options.credentials.secretAccessKey needs the environment variable FBT_UNSET_S3_SECRET, which is not set for this process',
    );
  });
});
