import { bucketAndPrefix, TargetSettings } from '../cloud/settings.ts';
import type { TargetFactoryInput } from '../target-spec.ts';
import { GcsTarget } from './gcs-target.ts';

/**
 * Builds a GcsTarget from `gs://bucket/prefix?endpoint=http://…&projectId=…&chunkSize=8MiB&retries=3`.
 * The same settings may come from the options object, which also takes `keyFilename` (a
 * service-account key file), `accessToken` (an OAuth2 access token, by reference: one a token
 * broker keeps fresh, or an emulator's) and `authWithCustomEndpoint`. Without keyFilename the client uses
 * Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server).
 * Credentials are never read from the URL.
 */
export function createGcsTargetFromUrl(input: TargetFactoryInput): GcsTarget {
  const settings = new TargetSettings(input);
  const { bucket, prefix } = bucketAndPrefix(settings, input.url);
  const apiEndpoint = settings.string('endpoint');
  const projectId = settings.string('projectId');
  const chunkSize = settings.integer('chunkSize');
  const retries = settings.integer('retries', 0);
  const keyFilename = settings.string('keyFilename', false);
  const accessToken = settings.string('accessToken', false);
  const authWithCustomEndpoint = settings.boolean('authWithCustomEndpoint');
  settings.assertNoUnknown();
  return new GcsTarget({
    name: input.name,
    bucket,
    prefix,
    offsite: input.offsite ?? true,
    ...(apiEndpoint !== undefined ? { apiEndpoint } : {}),
    ...(projectId !== undefined ? { projectId } : {}),
    ...(chunkSize !== undefined ? { chunkSize } : {}),
    ...(retries !== undefined ? { retries } : {}),
    ...(keyFilename !== undefined ? { keyFilename } : {}),
    ...(accessToken !== undefined ? { accessToken } : {}),
    ...(authWithCustomEndpoint !== undefined ? { authWithCustomEndpoint } : {}),
  });
}
