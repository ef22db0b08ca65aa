import { randomUUID } from 'node:crypto';
import { startFakeGcs } from '@fleet-backup/testkit';
import { Storage } from '@google-cloud/storage';
import { afterAll, describe, it } from 'vitest';
import { describeConformance } from '../testing/conformance.ts';
import { GcsTarget } from './gcs-target.ts';

// The same suite against fsouza/fake-gcs-server, where a Docker engine runs.
const fake = await startFakeGcs();
const bucket = `fleet-${randomUUID().slice(0, 8)}`;
if (fake) await new Storage({ apiEndpoint: fake.endpoint, projectId: 'test' }).createBucket(bucket);
afterAll(() => fake?.stop());

if (fake) {
  describeConformance('gcs (fake-gcs-server via testcontainers)', async () => ({
    target: new GcsTarget({
      name: 'gcs-fake',
      bucket,
      prefix: `conformance-${randomUUID().slice(0, 8)}`,
      apiEndpoint: fake.endpoint,
      projectId: 'test',
      retries: 0,
    }),
    cleanup: async () => undefined,
  }));
} else {
  describe('gcs (fake-gcs-server via testcontainers)', () => {
    it.skip('needs a Docker engine', () => {});
  });
}
