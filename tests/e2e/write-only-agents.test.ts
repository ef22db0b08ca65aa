/**
 * Agents can only write (issue 14). The S3 and GCS stand-ins hold every request to the bucket
 * policies the README documents (infra/policies/), and each target carries two credentials: the
 * pool's, and the agents' own (create only). The stack runs its roles as separate processes.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { bearerInterceptor } from '@fleet-backup/storage/gcs';
import { serviceUrls } from '@fleet-backup/testkit';
import { Storage } from '@google-cloud/storage';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { type Emulators, PRINCIPALS, startEmulators } from '../support/emulators.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'wo-host';

interface Shown {
  id: string;
  kind: string;
  key: string;
  status: string;
  copies: { target: string; status: string }[];
}

/** What the agent's principal asked of either stand-in, by action, and whether it was let through. */
function agentRequests(emu: Emulators): Map<string, { allowed: number; refused: number }> {
  const agent = new Set([PRINCIPALS.agent.s3, PRINCIPALS.agent.gcs]);
  const out = new Map<string, { allowed: number; refused: number }>();
  for (const d of emu.decisions) {
    if (!agent.has(d.principal)) continue;
    const seen = out.get(d.action) ?? { allowed: 0, refused: 0 };
    if (d.allowed) seen.allowed++;
    else seen.refused++;
    out.set(d.action, seen);
  }
  return out;
}

/** The HTTP status an SDK call failed with (S3's $metadata, GCS's code). */
async function refusedWith(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    const e = err as { $metadata?: { httpStatusCode?: number }; code?: number };
    return e.$metadata?.httpStatusCode ?? e.code ?? -1;
  }
  return 200;
}

describe.skipIf(!services)('agents can only write: least-privileged credentials on S3 and GCS', () => {
  let stack: Stack;
  let emu: Emulators;
  let source: string;
  let first: Shown;
  let producer: { log: string };

  const show = async (id: string): Promise<Shown> =>
    JSON.parse((await stack.cli(['show', id, '--json'])).stdout);
  const backup = async (description: string): Promise<Shown> => {
    const run = await stack.cli(manualBackup(HOST, description, [source], '--json', '--wait'));
    expect(run.code, run.stderr).toBe(0);
    return show(JSON.parse(run.stdout).id);
  };

  beforeAll(async () => {
    emu = await startEmulators('wonly', { enforce: true });
    stack = await createStack(services!, 'wonly', { targets: emu.targets() });
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 3 * 1024 * 1024 });
    producer = await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    first = await backup('first');
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  it('backs up to verified on both clouds, the agent only ever creating objects', async () => {
    expect(first.status).toBe('verified');
    expect(first.copies.every((c) => c.status === 'verified')).toBe(true);
    const asked = agentRequests(emu);
    // The agent wrote (S3 PutObject, GCS objects.create) and asked for nothing else: no head, no
    // read, no list, no delete, and nothing of it was refused.
    expect([...asked.keys()].sort()).toEqual(['s3:PutObject', 'storage.objects.create']);
    expect([...asked.values()].every((a) => a.refused === 0)).toBe(true);
    // The pool read the copies back (verify) with its own credential.
    const pool = new Set(
      emu.decisions.filter((d) => d.principal === PRINCIPALS.pool.s3).map((d) => d.action),
    );
    expect(pool.has('s3:GetObject')).toBe(true);
  });

  it('deduplicates against what is stored without asking the bucket: a second backup sends nothing new', async () => {
    const before = emu.decisions.length;
    const again = await backup('again');
    expect(again.status).toBe('verified');
    const creates = emu.decisions
      .slice(before)
      .filter((d) => d.principal === PRINCIPALS.agent.s3 && d.action === 's3:PutObject');
    // Only this backup's own manifest (and its listing segment) are new on S3; no pack.
    expect(creates.every((d) => !d.resource.includes('/packs/'))).toBe(true);
  });

  it('refuses a compromised agent every get, head, delete, overwrite and list, on S3 and GCS', async () => {
    const { agent } = emu.roles!;
    const s3 = new S3Client({
      endpoint: emu.s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: agent.s3,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    const Bucket = emu.bucket;
    const manifest = `fleet/hosts/${HOST}/${first.key}/manifest.json`;
    const listed = await new S3Client({
      endpoint: emu.s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    }).send(new ListObjectsV2Command({ Bucket, Prefix: 'fleet/packs/' }));
    const pack = listed.Contents?.[0]?.Key;
    expect(pack).toBeDefined();
    const junk = Buffer.from('ransom note');
    expect(await refusedWith(s3.send(new GetObjectCommand({ Bucket, Key: manifest })))).toBe(403);
    expect(await refusedWith(s3.send(new HeadObjectCommand({ Bucket, Key: pack! })))).toBe(403);
    expect(await refusedWith(s3.send(new DeleteObjectCommand({ Bucket, Key: pack! })))).toBe(403);
    expect(
      await refusedWith(s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: pack! }] } }))),
    ).toBe(403);
    expect(await refusedWith(s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'fleet/hosts/' })))).toBe(
      403,
    );
    // Overwriting: refused by the policy without If-None-Match, by S3 itself with it.
    expect(await refusedWith(s3.send(new PutObjectCommand({ Bucket, Key: manifest, Body: junk })))).toBe(403);
    expect(
      await refusedWith(
        s3.send(new PutObjectCommand({ Bucket, Key: manifest, Body: junk, IfNoneMatch: '*' })),
      ),
    ).toBe(412);

    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: agent.gcsToken });
    const gcs = new Storage({
      apiEndpoint: emu.gcs.endpoint,
      useAuthWithCustomEndpoint: true,
      authClient: auth,
      retryOptions: { autoRetry: false },
      // Resumable uploads leave the auth client out on a custom endpoint (as GcsTarget notes).
      interceptors_: [bearerInterceptor(agent.gcsToken)],
    }).bucket(emu.bucket);
    const file = gcs.file(manifest);
    expect(await refusedWith(file.download())).toBe(403);
    expect(await refusedWith(file.getMetadata())).toBe(403);
    expect(await refusedWith(file.delete())).toBe(403);
    expect(await refusedWith(file.save(junk, { resumable: false }))).toBe(403);
    expect(await refusedWith(file.save(junk, { resumable: true }))).toBe(403);
    expect(await refusedWith(gcs.getFiles({ prefix: 'fleet/hosts/' }))).toBe(403);
    // A token the stand-in does not know is anonymous.
    const nobody = new OAuth2Client();
    nobody.setCredentials({ access_token: 'ya29.stolen-but-revoked' });
    const anonymous = new Storage({
      apiEndpoint: emu.gcs.endpoint,
      useAuthWithCustomEndpoint: true,
      authClient: nobody,
      retryOptions: { autoRetry: false },
    });
    expect(await refusedWith(anonymous.bucket(emu.bucket).file(manifest).download())).toBe(401);

    // Every copy still reads back whole with the pool's credential.
    const verified = await stack.cli(['verify', first.id, '--json']);
    expect(verified.code, verified.stderr).toBe(0);
    expect((await show(first.id)).copies.every((c) => c.status === 'verified')).toBe(true);
  });

  it('ransomware drill: a host encrypted in place is flagged, and the backup before survives the agent credential and restores', async () => {
    const victim = path.join(stack.iso.dir, 'victim');
    await makeTree(victim, { largeBytes: 1024 * 1024 });
    // A host has one daily a day (its key is the date), so the clean backup before the attack is a
    // manual one of the same paths, and the attack is found by the day's daily, as it would be.
    const backupOf = async (args: string[]) => {
      const run = await stack.cli([...args, '--path', victim, '--json', '--wait']);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse((await stack.cli(['show', JSON.parse(run.stdout).id, '--json'])).stdout) as Shown & {
        mass_change: { changed: number; total: number } | null;
      };
    };
    const clean = await backupOf(manualBackup(HOST, 'before the attack', []));
    expect(clean.status).toBe('verified');
    const files = await listFiles(victim);
    const originals = new Map(
      await Promise.all(files.map(async (f) => [f, await readFile(path.join(victim, f))] as const)),
    );
    // Every file encrypted in place, its size kept, as ransomware does.
    const key = randomBytes(32);
    for (const [f, bytes] of originals) {
      const cipher = createCipheriv('aes-256-ctr', key, randomBytes(16));
      await writeFile(path.join(victim, f), Buffer.concat([cipher.update(bytes), cipher.final()]));
    }
    const hit = await backupOf(['backup', '--host', HOST, '--kind', 'daily']);
    expect(hit.kind).toBe('daily');
    expect(hit.mass_change).not.toBeNull();
    expect((await stack.cli(['show', hit.id])).stdout).toContain('MASS CHANGE');
    const report = JSON.parse((await stack.cli(['report', '--json'])).stdout);
    expect(report.massChanges.map((b: { id: string }) => b.id)).toContain(hit.id);
    // The series FleetBackupMassChange fires on (its promtool test: infra/prometheus/rules).
    const url = JSON.parse(producer.log.split('\n').find((l) => l.includes('"producer listening"'))!).url;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(
      new RegExp(`fleet_backup_flagged_24h\\{host="${HOST}",flag="mass_change"\\} [1-9]`),
    );
    // These targets say `encryption: none` (tests/support/emulators.ts): the metrics say so too.
    expect(metrics).toMatch(/fleet_backup_offsite_copies_unencrypted\{target="s3"\} [1-9]/);

    // The intruder, holding the agent's credential, tries to delete the clean daily offsite.
    const { agent } = emu.roles!;
    const s3 = new S3Client({
      endpoint: emu.s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: agent.s3,
    });
    const manifest = `fleet/hosts/${HOST}/${clean.key}/manifest.json`;
    expect(await refusedWith(s3.send(new DeleteObjectCommand({ Bucket: emu.bucket, Key: manifest })))).toBe(
      403,
    );
    const gcs = new Storage({
      apiEndpoint: emu.gcs.endpoint,
      retryOptions: { autoRetry: false },
      interceptors_: [bearerInterceptor(agent.gcsToken)],
    }).bucket(emu.bucket);
    expect(await refusedWith(gcs.file(manifest).delete())).toBe(403);
    expect(await refusedWith(gcs.deleteFiles({ prefix: 'fleet/' }))).toBe(403);

    for (const from of ['s3', 'gcs']) {
      const to = path.join(stack.iso.dir, `ransom-restore-${from}`);
      const run = await stack.cli(['restore', clean.id, '--to', to, '--from', from, '--json']);
      expect(run.code, run.stderr).toBe(0);
      for (const [f, bytes] of originals) {
        expect((await readFile(path.join(to, victim.slice(1), f))).equals(bytes), `${from}: ${f}`).toBe(true);
      }
    }
  });

  it('restores byte for byte from each cloud with the pool credential', async () => {
    for (const from of ['s3', 'gcs']) {
      const to = path.join(stack.iso.dir, `restore-${from}`);
      const run = await stack.cli(['restore', first.id, '--to', to, '--from', from, '--json']);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ copies: from, verified: true });
      for (const f of await listFiles(source)) {
        const restored = await readFile(path.join(to, source.slice(1), f));
        expect(restored.equals(await readFile(path.join(source, f))), f).toBe(true);
      }
    }
  });
});
