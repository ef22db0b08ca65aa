import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { blobKey, FsTarget, indexPacks } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { type Emulators, flipByte, startEmulators } from '../support/emulators.ts';
import { blobSpot } from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, makeTree, writeLarge } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'offsite-host';

interface Shown {
  id: string;
  key: string;
  status: string;
  compliance: { ok: boolean; summary: string; missing: string[] };
  copies: {
    target: string;
    status: string;
    detail: Record<string, unknown> & { problems?: { path: string; problem: string }[] };
  }[];
  files: { path: string; sha256: string; stored: string }[];
}

describe.skipIf(!services)('offsite fan-out to fs, S3 and GCS', () => {
  let stack: Stack;
  let emu: Emulators;
  let source: string;

  const show = async (id: string): Promise<Shown> =>
    JSON.parse((await stack.cli(['show', id, '--json'])).stdout);
  const backup = async (description: string, paths: string[], wait = true) => {
    const run = await stack.cli(
      manualBackup(HOST, description, paths, '--json', ...(wait ? ['--wait'] : [])),
    );
    return { run, shown: await show(JSON.parse(run.stdout).id) };
  };

  beforeAll(async () => {
    emu = await startEmulators('offsite');
    stack = await createStack(services!, 'offsite', { targets: emu.targets() });
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 12 * 1024 * 1024 });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  it('verifies every copy and reports 3-2-1', async () => {
    const { run, shown } = await backup('fanout', [source]);
    expect(run.code, run.stderr).toBe(0);
    expect(shown.status).toBe('verified');
    expect(shown.copies.map((c) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['gcs', 'verified'],
      ['s3', 'verified'],
      ['second', 'verified'],
    ]);
    expect(shown.compliance.summary).toBe('3-2-1: yes (5 copies, 2 kinds, 2 offsite)');
    expect((await stack.cli(['show', shown.id])).stdout).toMatch(/3-2-1: yes/);
  });

  it('stores each distinct file once per target, however many backups hold it', async () => {
    const { shown } = await backup('again', [source]);
    expect(shown.status).toBe('verified');
    // Small files are in packs, and so are the 12 MiB file's chunks: every blob once, no object per file.
    const second = new FsTarget({ name: 'second', root: stack.secondDir });
    const packed = await indexPacks(second);
    expect(await listFiles(path.join(stack.secondDir, 'blobs')).catch(() => [])).toEqual([]);
    const large = shown.files.find((f) => f.path.endsWith('large.bin'))!;
    const chunks = await stack.iso.pool.query(
      'SELECT DISTINCT chunk_sha256 FROM blob_chunks WHERE blob_sha256 = $1',
      [large.sha256],
    );
    expect(chunks.rows.length).toBeGreaterThanOrEqual(4);
    expect(packed.size).toBe(new Set(shown.files.map((f) => f.sha256)).size - 1 + chunks.rows.length);
    expect((await listFiles(path.join(stack.secondDir, 'packs'))).length).toBeLessThanOrEqual(2);
  });

  it.each(['s3', 'gcs', 'second'])('restores byte for byte from %s', async (from) => {
    const { shown } = await backup(`restore-${from}`, [source]);
    const to = path.join(stack.iso.dir, `restore-${from}`);
    const run = await stack.cli(['restore', shown.id, '--to', to, '--from', from, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ copies: from, verified: true });
    for (const f of await listFiles(source)) {
      expect(
        (await readFile(path.join(to, source.slice(1), f))).equals(await readFile(path.join(source, f))),
      ).toBe(true);
    }
  });

  it('falls back to the next copy when the nearest one is damaged, says so, and records the restore', async () => {
    const { shown } = await backup('fallback', [source]);
    const yaml = shown.files.find((f) => f.path.endsWith('etc/app.yaml'))!;
    await writeFile(path.join(stack.backupRoot, shown.key, yaml.stored), 'tampered: true\n');
    const to = path.join(stack.iso.dir, 'restore-auto');
    const run = await stack.cli([
      'restore',
      shown.id,
      '--to',
      to,
      '--file',
      `/${yaml.path}`,
      '--by',
      'oncall-ana',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/copy local failed .*trying the next copy/);
    expect(await readFile(path.join(to, yaml.path), 'utf8')).toBe('port: 8080\n');
    const restores = JSON.parse((await stack.cli(['restores', '--json'])).stdout) as Record<
      string,
      unknown
    >[];
    expect(restores[0]).toMatchObject({
      requestedBy: 'oncall-ana',
      outcome: 'ok',
      files: 1,
      backupKey: shown.key,
    });
    expect((restores[0]!.detail as { fallbacks: unknown[] }).fallbacks).toHaveLength(1);
  });

  it('detects a corrupted object in S3 and in GCS, and heals it from another copy', async () => {
    const dir = path.join(stack.iso.dir, 'corrupt-src');
    await mkdir(dir, { recursive: true });
    await writeLarge(path.join(dir, 'victim.bin'), 256 * 1024, 'victim');
    const first = await backup('victim', [dir]);
    expect(first.shown.status).toBe('verified');
    const sha = first.shown.files[0]!.sha256;
    await flipByte(await blobSpot(stack, 's3', sha, emu));
    await flipByte(await blobSpot(stack, 'gcs', sha, emu));
    // The next backup of the same bytes references the same blobs, read good within the window:
    // its verify does not read them again (only the rolling re-read or an on-demand verify does).
    const { shown } = await backup('victim-again', [dir]);
    expect(shown.status).toBe('verified');
    const s3 = shown.copies.find((c) => c.target === 's3')?.detail as {
      checkedBytes: number;
      vouchedBytes: number;
    };
    expect(s3).toMatchObject({ checkedBytes: 0, vouchedBytes: 256 * 1024 });
    // An on-demand verify reads every byte, finds both copies corrupt and queues a repair of each
    // target: good bytes from the fs copy, then each copy is read again. A stand-in that timed out
    // under a loaded machine (unreachable, which proves nothing) is read again, as an operator would.
    const verify = async (...args: string[]) => {
      const run = await stack.cli(['verify', shown.id, '--json', '--timeout', '120', ...args]);
      expect(run.code, run.stderr).toBe(1);
      return JSON.parse(run.stdout) as { copy: string; result: string }[];
    };
    let outcomes = await verify();
    const resultOf = (copy: string) => outcomes.find((o) => o.copy === copy)?.result;
    for (let again = 0; again < 2; again++)
      for (const copy of ['s3', 'gcs'])
        if (resultOf(copy) === 'unreachable')
          outcomes = [...outcomes.filter((o) => o.copy !== copy), ...(await verify('--target', copy))];
    // The verify reads the copies one after another, and the repair it queued for the first copy
    // found bad may take the other as a source, find it bad too and heal it before the verify
    // reads it (seen in CI: s3 read `verified`). That copy's finding is then not the CLI's.
    const readBad = ['s3', 'gcs'].filter((copy) => /^(corrupt|healed)$/.test(resultOf(copy) ?? ''));
    expect(readBad.length, JSON.stringify(outcomes)).toBeGreaterThan(0);
    let last: Shown | undefined;
    const healed = await waitFor(
      async () => {
        last = await show(shown.id);
        return last.status === 'verified' ? last : null;
      },
      {
        timeoutMs: 60_000,
        what: 'the repairs to heal s3 and gcs',
        detail: () => JSON.stringify(last?.copies),
      },
    );
    const status = Object.fromEntries(healed.copies.map((c) => [c.target, c.status]));
    expect(status).toEqual({ local: 'verified', second: 'verified', s3: 'verified', gcs: 'verified' });
    expect(healed.compliance.ok).toBe(true);
    type Finding = {
      copy: string;
      object: string;
      backupId: string;
      foundBy: string;
      healedFrom: string | null;
    };
    const findingsOf = (rot: Finding[], copy: string) =>
      rot.filter((f) => f.copy === copy && f.object === blobKey(sha));
    // A read that began before a repair healed the copy may record its finding just after (seen in
    // CI: s3's cli finding at 26.167, its repair's heal at 26.166). That finding is open until the
    // repair the read queued has put the blob back, so wait for that too, not only for `verified`.
    const rot = await waitFor(
      async () => {
        const recent = JSON.parse((await stack.cli(['report', '--json'])).stdout).rot.recent as Finding[];
        const open = readBad.some((copy) => findingsOf(recent, copy).some((f) => f.healedFrom === null));
        return open ? null : recent;
      },
      { timeoutMs: 60_000, what: 'every finding of the flipped blob to be healed' },
    );
    for (const copy of readBad) {
      expect(findingsOf(rot, copy)[0], `${copy}: ${JSON.stringify(rot)}`).toMatchObject({
        // One finding per object: it names one of the backups holding it.
        backupId: expect.stringMatching(new RegExp(`^(${shown.id}|${first.shown.id})$`)),
        // The repair of the first copy read bad may find the other's bytes bad first.
        foundBy: expect.stringMatching(/^(cli|repair)$/),
        healedFrom: expect.any(String),
      });
    }
  }, 180_000);
});
