import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type GcsEmulator,
  S3_EMULATOR_CREDENTIALS,
  type S3Emulator,
  startGcsEmulator,
  startS3Emulator,
} from '@fleet-backup/emulators';

export interface Emulators {
  s3: S3Emulator;
  gcs: GcsEmulator;
  bucket: string;
  /** Target configs for the stack's config file. */
  targets(): Record<string, unknown>[];
  /** Stops GCS (an outage); `restartGcs` brings it back on the same port with the same objects. */
  restartGcs(): Promise<void>;
  stop(): Promise<void>;
}

/** Local S3 (s3rver) and GCS emulators on free ports, each with one bucket, for one test file. */
export async function startEmulators(label: string): Promise<Emulators> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `fbt-emu-${label}-`));
  const bucket = `fbt-${label}`;
  const s3 = await startS3Emulator({ dir: path.join(dir, 's3'), buckets: [bucket] });
  // A secret goes in the configuration by reference only (libs/config/src/secret-refs.ts).
  const secretFile = path.join(dir, 's3.secret');
  await writeFile(secretFile, S3_EMULATOR_CREDENTIALS.secretAccessKey, { mode: 0o600 });
  const gcsDir = path.join(dir, 'gcs');
  const emu: Emulators = {
    s3,
    gcs: await startGcsEmulator({ dir: gcsDir }),
    bucket,
    targets: () => [
      {
        name: 's3',
        url: `s3://${bucket}/fleet?endpoint=${s3.endpoint}&forcePathStyle=true&checksums=none`,
        offsite: true,
        options: {
          credentials: {
            accessKeyId: S3_EMULATOR_CREDENTIALS.accessKeyId,
            secretAccessKey: { file: secretFile },
          },
        },
      },
      { name: 'gcs', url: `gs://${bucket}/fleet?endpoint=${emu.gcs.endpoint}&retries=0`, offsite: true },
    ],
    async restartGcs() {
      emu.gcs = await startGcsEmulator({ dir: gcsDir, port: emu.gcs.port });
    },
    async stop() {
      await Promise.all([s3.stop(), emu.gcs.stop().catch(() => {})]);
    },
  };
  await emu.gcs.createBucket(bucket);
  return emu;
}

/** Flips one byte in the middle of a file (an object in an emulator's storage). */
/** A byte to flip: in the middle of a file, or at an offset (inside a pack, a blob's middle). */
export interface ByteSpot {
  file: string;
  at?: number;
  /** The blob's range inside its pack. */
  range?: { start: number; length: number };
}

/** The bytes of a blob: its whole file, or its range of a pack. */
export async function blobBytes(spot: string | ByteSpot): Promise<Buffer> {
  const { readFile } = await import('node:fs/promises');
  if (typeof spot === 'string') return readFile(spot);
  const bytes = await readFile(spot.file);
  return spot.range ? bytes.subarray(spot.range.start, spot.range.start + spot.range.length) : bytes;
}

export async function flipByte(spot: string | ByteSpot): Promise<void> {
  const { file, at: offset } = typeof spot === 'string' ? { file: spot, at: undefined } : spot;
  const { open } = await import('node:fs/promises');
  const handle = await open(file, 'r+');
  try {
    const { size } = await handle.stat();
    const at = offset ?? Math.floor(size / 2);
    const buf = Buffer.alloc(1);
    await handle.read(buf, 0, 1, at);
    buf[0] = (buf[0] ?? 0) ^ 0xff;
    await handle.write(buf, 0, 1, at);
  } finally {
    await handle.close();
  }
}
