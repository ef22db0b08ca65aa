import { randomUUID } from 'node:crypto';
import { startMinio } from '@fleet-backup/testkit';
import { afterAll, describe, it } from 'vitest';
import { describeConformance } from '../testing/conformance.ts';
import { S3Target } from './s3-target.ts';

// The same suite against MinIO, where a Docker engine runs: the faithful S3 server, with real
// ChecksumSHA256 (s3rver has none), multipart abort and paginated listing.
const minio = await startMinio(`fleet-${randomUUID().slice(0, 8)}`);
afterAll(() => minio?.stop());

if (minio) {
  describeConformance('s3 (MinIO via testcontainers)', async () => {
    const t = new S3Target({
      name: 's3-minio',
      bucket: minio.bucket,
      prefix: `conformance-${randomUUID().slice(0, 8)}`,
      endpoint: minio.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey },
      checksums: 'sha256',
    });
    return { target: t, cleanup: async () => t.close() };
  });
} else {
  describe('s3 (MinIO via testcontainers)', () => {
    it.skip('needs a Docker engine', () => {});
  });
}
