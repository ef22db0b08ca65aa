export { type GcsEmulator, type GcsEmulatorOptions, startGcsEmulator } from './gcs/server.ts';
export { S3_EMULATOR_CREDENTIALS, type S3Emulator, type S3EmulatorOptions, startS3Emulator } from './s3.ts';
