export type { GcsBucketIam, GcsEnforcement } from './gcs/iam.ts';
export { type GcsEmulator, type GcsEmulatorOptions, startGcsEmulator } from './gcs/server.ts';
export type { Decision, S3Enforcement, S3User } from './s3/enforce.ts';
export { type BucketPolicy, evaluate, type PolicyRequest, renderPolicy } from './s3/iam.ts';
export { S3_EMULATOR_CREDENTIALS, type S3Emulator, type S3EmulatorOptions, startS3Emulator } from './s3.ts';
