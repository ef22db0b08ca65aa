import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { POOL_QUEUE } from '@fleet-backup/queue';
import { openRuntime } from '@fleet-backup/runtime';
import { manifestKey } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { readManifestText } from '../support/manifest-file.ts';
import {
  blobBytes,
  copyPaths,
  copyStates,
  fileOf,
  flipByte,
  flipInManifestEntry,
  readBackNow,
  rotSource,
  show,
  storedSha,
  waitVerified,
} from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'rot-heal-host';
const KEY = `rot3:${randomBytes(32).toString('base64')}`;
const TARGETS = ['second', 's3', 'gcs'] as const;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Finding {
  copy: string;
  object: string;
  found_by: string;
  healed_at: Date | null;
  healed_from: string | null;
}

describe.skipIf(!services)('self-healing: replicate and verify never settle for a bad blob', () => {
  let stack: Stack;
  let emu: Emulators;
  let worker: RoleProcess;

  const findings = async (object: string): Promise<Finding[]> =>
    (
      await stack.iso.pool.query<Finding>(
        'SELECT copy, object, found_by, healed_at, healed_from FROM rot_findings WHERE object = $1 ORDER BY copy',
        [object],
      )
    ).rows;
  const blobObject = (sha: string) => `blobs/sha256/${sha.slice(0, 2)}/${sha}`;

  beforeAll(async () => {
    emu = await startEmulators('rotheal');
    stack = await createStack(services!, 'rot-heal', { targets: emu.targets() });
    await stack.start(['producer']);
    worker = await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST], { ENCRYPTION_KEY: KEY });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  /** A verified manual backup of a fresh rot source, and where each target holds its files. */
  async function backedUp(label: string, description: string) {
    const source = await rotSource(stack.iso.dir, label);
    const run = await stack.cli(manualBackup(HOST, description, [source], '--json', '--wait'));
    expect(run.code, run.stderr).toBe(0);
    const a = await show(stack, JSON.parse(run.stdout).id);
    return { source, a, at: await copyPaths(stack, emu, a) };
  }

  it('replicate replaces a blob known bad on every target kind, and the backups it spoiled verify again', async () => {
    const { source, a, at } = await backedUp('replicate', 'first');
    // The same blob rots on all three targets, and is found (marked bad) while no repair can run.
    await worker.stop();
    for (const t of TARGETS) await flipByte(at[t]('a.txt'));
    const found = await readBackNow(stack.env, a.id, [...TARGETS]);
    for (const t of TARGETS) expect(found[t], t).toHaveLength(1);
    expect(copyStates(await show(stack, a.id))).toMatchObject({
      second: 'corrupt',
      s3: 'corrupt',
      gcs: 'corrupt',
    });
    // The repairs verify queued are lost (say Redis lost them): only replicate can heal now.
    const rt = await openRuntime(loadConfig({ ...stack.env, LOG_LEVEL: 'warn' }), { name: 'rot-heal-test' });
    try {
      const queued = await rt.queues.queue(POOL_QUEUE).getJobs(['waiting', 'delayed'], 0, -1);
      const repairs = queued.filter((j) => j?.name === 'repair');
      expect(repairs.length).toBeGreaterThan(0);
      for (const j of repairs) await j.remove();
    } finally {
      await rt.close();
    }

    // A new backup holding the same bytes: replicate must not trust the known (bad) blob.
    worker = await stack.start(['worker']);
    await writeFile(path.join(source, 'b.txt'), `changed ${randomBytes(8).toString('hex')}\n`);
    const second = await stack.cli(manualBackup(HOST, 'second', [source], '--json', '--wait'));
    expect(second.code, second.stderr).toBe(0);
    const b = await show(stack, JSON.parse(second.stdout).id);
    expect(b.status).toBe('verified');
    expect(storedSha(fileOf(b, 'a.txt'))).toBe(storedSha(fileOf(a, 'a.txt')));
    const healedAt = await copyPaths(stack, emu, b);
    for (const t of TARGETS) {
      expect(await blobBytes(healedAt[t]('a.txt'))).toEqual(await readFile(path.join(source, 'a.txt')));
    }
    // The first backup's copies were read again once the blob was replaced.
    await waitVerified(stack, a.id);
    const rows = await findings(blobObject(storedSha(fileOf(a, 'a.txt'))));
    expect(rows.map((r) => [r.copy, r.found_by, r.healed_from])).toEqual([
      ['gcs', 'cli', 'local'],
      ['s3', 'cli', 'local'],
      ['second', 'cli', 'local'],
    ]);
    expect(rows.every((r) => r.healed_at)).toBe(true);
  });

  it('a repair whose sources read bad too records the rot there and turns their copies corrupt before healing them', async () => {
    const { source, a, at } = await backedUp('sources', 'sources');
    for (const t of TARGETS) await flipByte(at[t]('a.txt'));
    // Only s3 is read: its repair takes second and gcs as sources (last read good) and finds their
    // bytes bad too. Before, that was marked nowhere a person looks: no finding, copies verified.
    const found = await stack.cli(['verify', a.id, '--target', 's3', '--json']);
    expect(found.code).toBe(1);
    const object = blobObject(storedSha(fileOf(a, 'a.txt')));
    let last: Finding[] = [];
    const rows = await waitFor(
      async () => {
        last = await findings(object);
        return last.length === 3 && last.every((f) => f.healed_at) ? last : null;
      },
      { timeoutMs: 90_000, what: 'rot on every target found and healed', detail: () => JSON.stringify(last) },
    );
    // Each heals from the agent's local copy, or from a target another repair healed first.
    expect(rows.map((r) => [r.copy, r.found_by, typeof r.healed_from])).toEqual([
      ['gcs', 'repair', 'string'],
      ['s3', 'cli', 'string'],
      ['second', 'repair', 'string'],
    ]);
    const healed = await waitVerified(stack, a.id);
    expect(healed.compliance.ok).toBe(true);
    // A packed blob is healed as its own object: read it where it is now.
    const now = await copyPaths(stack, emu, healed);
    for (const t of TARGETS)
      expect(await blobBytes(now[t]('a.txt')), t).toEqual(await readFile(path.join(source, 'a.txt')));
  }, 150_000);

  it('verify finds bytes flipped between replicate and verify on every target kind, manifest included, and the repair heals them', async () => {
    await worker.stop();
    const source = await rotSource(stack.iso.dir, 'before');
    const run = await stack.cli(manualBackup(HOST, 'before', [source], '--json'));
    expect(run.code, run.stderr).toBe(0);
    const { id } = JSON.parse(run.stdout) as { id: string };
    // Replicated everywhere, verify not run yet (no pool worker).
    const replicated = await waitFor(
      async () => {
        const b = await show(stack, id);
        return TARGETS.every((t) => b.copies.find((c) => c.target === t)?.status === 'replicated') ? b : null;
      },
      { timeoutMs: 90_000, what: 'every target copy to be replicated' },
    );
    const at = await copyPaths(stack, emu, replicated);
    await flipByte(at.second('a.txt'));
    await flipByte(at.s3('b.txt'));
    await flipByte(at.gcs('server.key'));
    await flipInManifestEntry(at.secondManifest());

    worker = await stack.start(['worker']);
    const healed = await waitVerified(stack, id);
    expect(healed.compliance.ok).toBe(true);
    const flipped = [
      ['second', 'a.txt'],
      ['s3', 'b.txt'],
      ['gcs', 'server.key'],
    ] as const;
    for (const [copy, name] of flipped) {
      const rows = (await findings(blobObject(storedSha(fileOf(replicated, name))))).filter(
        (r) => r.copy === copy,
      );
      expect(rows, copy).toEqual([
        expect.objectContaining({ found_by: 'verify', healed_at: expect.any(Date) }),
      ]);
      // The object holds the recorded bytes again (an encrypted file's ciphertext).
      const now = await copyPaths(stack, emu, replicated);
      expect(sha256(await blobBytes(now[copy](name))), copy).toBe(storedSha(fileOf(replicated, name)));
    }
    const manifest = await findings(manifestKey(HOST, healed.key));
    expect(manifest).toEqual([
      expect.objectContaining({
        copy: 'second',
        found_by: 'verify',
        healed_from: 'catalog',
        healed_at: expect.any(Date),
      }),
    ]);
    expect(await readManifestText(at.secondManifest())).toContain(`"purpose": "test: before"`);
  });
});
