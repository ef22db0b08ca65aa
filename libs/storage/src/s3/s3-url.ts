import { bucketAndPrefix, TargetSettings } from '../cloud/settings.ts';
import type { TargetFactoryInput } from '../target-spec.ts';
import { type S3Credentials, S3Target } from './s3-target.ts';

/**
 * Builds an S3Target from `s3://bucket/prefix?endpoint=http://…&region=…&forcePathStyle=true&checksums=none`
 * (plus partSize, queueSize, maxAttempts). The same settings may come from the options object,
 * which also carries `credentials: { accessKeyId, secretAccessKey, sessionToken? }`; without it
 * the AWS SDK default chain applies (environment, shared profile, instance role). Credentials are
 * never read from the URL.
 */
export function createS3TargetFromUrl(input: TargetFactoryInput): S3Target {
  const settings = new TargetSettings(input);
  const { bucket, prefix } = bucketAndPrefix(settings, input.url);
  const endpoint = settings.string('endpoint');
  const region = settings.string('region');
  const forcePathStyle = settings.boolean('forcePathStyle');
  const checksums = settings.choice('checksums', ['sha256', 'none'] as const);
  const partSize = settings.integer('partSize');
  const queueSize = settings.integer('queueSize');
  const maxAttempts = settings.integer('maxAttempts');
  const credentials = readCredentials(settings);
  settings.assertNoUnknown();
  return new S3Target({
    name: input.name,
    bucket,
    prefix,
    offsite: input.offsite ?? true,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(region !== undefined ? { region } : {}),
    ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
    ...(checksums !== undefined ? { checksums } : {}),
    ...(partSize !== undefined ? { partSize } : {}),
    ...(queueSize !== undefined ? { queueSize } : {}),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
  });
}

function readCredentials(settings: TargetSettings): S3Credentials | undefined {
  const raw = settings.object('credentials');
  if (raw === undefined) return undefined;
  const { accessKeyId, secretAccessKey, sessionToken } = raw;
  if (
    typeof accessKeyId !== 'string' ||
    typeof secretAccessKey !== 'string' ||
    !accessKeyId ||
    !secretAccessKey
  ) {
    // Never echo the values: they are secrets.
    throw settings.fail('credentials need non-empty string accessKeyId and secretAccessKey');
  }
  if (sessionToken !== undefined && typeof sessionToken !== 'string') {
    throw settings.fail('credentials.sessionToken must be a string');
  }
  return sessionToken === undefined
    ? { accessKeyId, secretAccessKey }
    : { accessKeyId, secretAccessKey, sessionToken };
}
