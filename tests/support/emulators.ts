import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type BucketPolicy,
  type Decision,
  type GcsBucketIam,
  type GcsEmulator,
  type GcsEnforcement,
  renderPolicy,
  S3_EMULATOR_CREDENTIALS,
  type S3Emulator,
  type S3Enforcement,
  startGcsEmulator,
  startS3Emulator,
} from '@fleet-backup/emulators';

/** The policies the README documents, which the enforcing stand-ins hold every request to. */
export const POLICY_FILES = {
  s3: new URL('../../infra/policies/s3-bucket-policy.json', import.meta.url),
  gcs: new URL('../../infra/policies/gcs-bucket-iam.json', import.meta.url),
};

/** One role's credential on each stand-in: an S3 key pair and a GCS access token. */
/** The principals the policies name: the S3 user ARN and the GCS member of each role. */
export const PRINCIPALS = {
  agent: {
    s3: 'arn:aws:iam::123456789000:user/fleet-backup-agent',
    gcs: 'serviceAccount:fleet-backup-agent@demo-project.iam.gserviceaccount.com',
  },
  pool: {
    s3: 'arn:aws:iam::123456789000:user/fleet-backup-pool',
    gcs: 'serviceAccount:fleet-backup-pool@demo-project.iam.gserviceaccount.com',
  },
};

export interface RoleCredentials {
  s3: { accessKeyId: string; secretAccessKey: string };
  gcsToken: string;
}

export interface Emulators {
  /** Where both keep their objects (s3/ and gcs/), for tests that look at what is stored. */
  dir: string;
  s3: S3Emulator;
  gcs: GcsEmulator;
  bucket: string;
  /** Target configs for the stack's config file. */
  targets(): Record<string, unknown>[];
  /** With `enforce`: the agents' and the pool's credentials, which the stand-ins tell apart. */
  roles?: { agent: RoleCredentials; pool: RoleCredentials };
  /** With `enforce`: every decision both stand-ins made, in order (principal: an ARN or a member). */
  decisions: Decision[];
  /** Stops GCS (an outage); `restartGcs` brings it back on the same port with the same objects. */
  restartGcs(): Promise<void>;
  stop(): Promise<void>;
}

function roleCredentials(role: 'agent' | 'pool', label: string): RoleCredentials {
  return {
    s3: { accessKeyId: `fbt-${role}-${label}`, secretAccessKey: randomBytes(18).toString('base64url') },
    gcsToken: `ya29.${role}-${randomBytes(12).toString('hex')}`,
  };
}

/** The README's policies with this bucket's names filled in, and who holds which credential. */
async function enforcement(
  bucket: string,
  roles: { agent: RoleCredentials; pool: RoleCredentials },
  onDecision: (d: Decision) => void,
) {
  const values = {
    BUCKET: bucket,
    PREFIX: 'fleet/',
    AGENT_PRINCIPAL_ARN: PRINCIPALS.agent.s3,
    POOL_PRINCIPAL_ARN: PRINCIPALS.pool.s3,
    AGENT_SERVICE_ACCOUNT: PRINCIPALS.agent.gcs.replace('serviceAccount:', ''),
    POOL_SERVICE_ACCOUNT: PRINCIPALS.pool.gcs.replace('serviceAccount:', ''),
  };
  const s3: S3Enforcement = {
    users: (['agent', 'pool'] as const).map((r) => ({ ...roles[r].s3, arn: PRINCIPALS[r].s3 })),
    policies: { [bucket]: renderPolicy<BucketPolicy>(await readFile(POLICY_FILES.s3, 'utf8'), values) },
    onDecision,
  };
  const gcs: GcsEnforcement = {
    tokens: {
      [roles.agent.gcsToken]: PRINCIPALS.agent.gcs,
      [roles.pool.gcsToken]: PRINCIPALS.pool.gcs,
    },
    policies: { [bucket]: renderPolicy<GcsBucketIam>(await readFile(POLICY_FILES.gcs, 'utf8'), values) },
    onDecision,
  };
  return { s3, gcs };
}

/** A secret in a file of its own: the configuration names secrets by reference only. */
async function secretFile(dir: string, name: string, value: string): Promise<{ file: string }> {
  const file = path.join(dir, name);
  await writeFile(file, value, { mode: 0o600 });
  return { file };
}

/**
 * Local S3 (s3rver) and GCS emulators on free ports, each with one bucket, for one test file.
 * With `enforce`, both hold every request to the README's bucket policies (infra/policies/), and
 * the targets carry two credentials: the pool's, and the agents' (create only). With `sealed`,
 * their objects are sealed (the roles then need ENCRYPTION_KEY); plain otherwise.
 */
export async function startEmulators(
  label: string,
  opts: { enforce?: boolean; sealed?: boolean } = {},
): Promise<Emulators> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `fbt-emu-${label}-`));
  const bucket = `fbt-${label}`;
  const roles = opts.enforce
    ? { agent: roleCredentials('agent', label), pool: roleCredentials('pool', label) }
    : undefined;
  const decisions: Decision[] = [];
  const enforce = roles ? await enforcement(bucket, roles, (d) => decisions.push(d)) : undefined;
  const s3 = await startS3Emulator({
    dir: path.join(dir, 's3'),
    buckets: [bucket],
    ...(enforce && { enforce: enforce.s3 }),
  });
  const gcsDir = path.join(dir, 'gcs');
  const startGcs = (port?: number) =>
    startGcsEmulator({ dir: gcsDir, ...(port && { port }), ...(enforce && { enforce: enforce.gcs }) });
  const s3Key = async (who: string, c: { accessKeyId: string; secretAccessKey: string }) => ({
    accessKeyId: c.accessKeyId,
    secretAccessKey: await secretFile(dir, `s3-${who}.secret`, c.secretAccessKey),
  });
  const s3Options = roles
    ? {
        credentials: await s3Key('pool', roles.pool.s3),
        agent: { credentials: await s3Key('agent', roles.agent.s3) },
      }
    : { credentials: await s3Key('root', S3_EMULATOR_CREDENTIALS) };
  const gcsOptions = roles
    ? {
        accessToken: await secretFile(dir, 'gcs-pool.token', roles.pool.gcsToken),
        agent: { accessToken: await secretFile(dir, 'gcs-agent.token', roles.agent.gcsToken) },
      }
    : undefined;
  // Offsite targets are sealed unless told otherwise; tests that flip stored bytes at a blob's
  // offset need them plain (sealed ones have their own test: tests/e2e/sealed-targets.test.ts).
  const encryption = opts.sealed ? {} : { encryption: 'none' };
  const emu: Emulators = {
    dir,
    s3,
    gcs: await startGcs(),
    bucket,
    ...(roles && { roles }),
    decisions,
    targets: () => [
      {
        name: 's3',
        url: `s3://${bucket}/fleet?endpoint=${s3.endpoint}&forcePathStyle=true&checksums=none`,
        offsite: true,
        ...encryption,
        options: s3Options,
      },
      {
        name: 'gcs',
        url: `gs://${bucket}/fleet?endpoint=${emu.gcs.endpoint}&retries=0`,
        offsite: true,
        ...encryption,
        ...(gcsOptions && { options: gcsOptions }),
      },
    ],
    async restartGcs() {
      emu.gcs = await startGcs(emu.gcs.port);
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
