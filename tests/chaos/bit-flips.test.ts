import { createHash, randomBytes } from 'node:crypto';
import { loadConfig } from '@fleet-backup/config';
import { hostQueueName, POOL_QUEUE } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { blobKey } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { type ByteSpot, type Emulators, startEmulators } from '../support/emulators.ts';
import {
  blobBytes,
  type CopyPaths,
  copyPaths,
  fileOf,
  flipByte,
  rotSource,
  type ShownBackup,
  show,
  storedSha,
  waitVerified,
} from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'bit-flips-host';
const KEY = `flips:${randomBytes(32).toString('base64')}`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One flipped byte: on which copy kind, in which file, and where its finding is recorded. */
interface Flip {
  when: 'before' | 'after';
  kind: 'local' | 'local encrypted' | 's3' | 'gcs' | 'fs';
  copy: string;
  object: string;
  backup: ShownBackup;
  /** Where the flipped bytes are: asked again after healing, which can move a blob out of its pack. */
  file: (at: CopyPaths) => string | ByteSpot;
  expectedSha: string;
}

/**
 * Bit flips on every copy kind (a local file, an encrypted local file, an S3 blob, a GCS blob, an
 * fs-target blob), once after the backup is verified (found by the rolling re-check) and once
 * between replicate and verify (found by verify, or the re-check for the local copy). Each must
 * be found, and healed from a good copy: the bytes on disk are the recorded ones again.
 */
describe.skipIf(!services)('chaos: bit flips on every copy kind, before and after verification', () => {
  let stack: Stack;
  let emu: Emulators;
  let worker: RoleProcess;
  let rt: Runtime;
  const flips: Flip[] = [];

  /** Fires the re-check schedulers now (window 1 day: everything is read) and waits for the jobs. */
  const fireRecheck = async () => {
    const jobs = [
      ...(await rt.queues.queue(POOL_QUEUE).getJobs(['delayed'], 0, -1)).filter((j) => j?.name === 'recheck'),
      ...(await rt.queues.queue(hostQueueName(HOST)).getJobs(['delayed'], 0, -1)).filter(
        (j) => j?.name === 'recheck-local',
      ),
    ];
    expect(jobs).toHaveLength(4);
    for (const job of jobs) await job.promote();
    for (const job of jobs) {
      await waitFor(async () => ['completed', 'failed'].includes(await job.getState()), {
        timeoutMs: 120_000,
        what: `${job.name} ${JSON.stringify(job.data)} to finish`,
      });
    }
  };
  const flipAll = async (when: Flip['when'], b: ShownBackup) => {
    const at = await copyPaths(stack, emu, b);
    const local = (name: string) => `${b.key}/${fileOf(b, name).stored}`;
    const blob = (name: string) => blobKey(storedSha(fileOf(b, name)));
    const planned: Flip[] = [
      {
        when,
        kind: 'local',
        copy: 'local',
        object: local('a.txt'),
        backup: b,
        file: (at) => at.local('a.txt'),
        expectedSha: storedSha(fileOf(b, 'a.txt')),
      },
      {
        when,
        kind: 'local encrypted',
        copy: 'local',
        object: local('server.key'),
        backup: b,
        file: (at) => at.local('server.key'),
        expectedSha: storedSha(fileOf(b, 'server.key')),
      },
      {
        when,
        kind: 's3',
        copy: 's3',
        object: blob('b.txt'),
        backup: b,
        file: (at) => at.s3('b.txt'),
        expectedSha: storedSha(fileOf(b, 'b.txt')),
      },
      {
        when,
        kind: 'gcs',
        copy: 'gcs',
        object: blob('c.txt'),
        backup: b,
        file: (at) => at.gcs('c.txt'),
        expectedSha: storedSha(fileOf(b, 'c.txt')),
      },
      {
        when,
        kind: 'fs',
        copy: 'second',
        object: blob('d.txt'),
        backup: b,
        file: (at) => at.second('d.txt'),
        expectedSha: storedSha(fileOf(b, 'd.txt')),
      },
    ];
    for (const f of planned) await flipByte(f.file(at));
    flips.push(...planned);
  };

  beforeAll(async () => {
    emu = await startEmulators('bitflips');
    // Listed in the config, so the producer registers the host (and its re-check scheduler) at once.
    stack = await createStack(services!, 'bit-flips', { hosts: { [HOST]: {} }, targets: emu.targets() });
    // A one-day window: each re-check run reads every stored byte.
    const window = { RECHECK_WINDOW_DAYS: '1' };
    await stack.start(['producer'], window);
    worker = await stack.start(['worker'], window);
    await stack.start(['agent', '--host', HOST], { ...window, ENCRYPTION_KEY: KEY });
    rt = await openRuntime(loadConfig({ ...stack.env, LOG_LEVEL: 'warn' }), { name: 'bit-flips-test' });
    // The producer's first sweep creates the re-check schedulers: one per target, one for the host.
    await waitFor(
      async () =>
        (await rt.queues.queue(POOL_QUEUE).getJobSchedulers()).filter((s) => s.name === 'recheck').length ===
          3 &&
        (await rt.queues.queue(hostQueueName(HOST)).getJobSchedulers()).some(
          (s) => s.name === 'recheck-local',
        ),
      { what: 're-check schedulers' },
    );
  }, 120_000);
  afterAll(async () => {
    await rt?.close();
    await stack?.stop();
    await emu?.stop();
  });

  it('after verification: the rolling re-check finds every flip and each is healed', async () => {
    const run = await stack.cli(
      manualBackup(HOST, 'after', [await rotSource(stack.iso.dir, 'after')], '--json', '--wait'),
    );
    expect(run.code, run.stderr).toBe(0);
    const b = await show(stack, JSON.parse(run.stdout).id);
    await flipAll('after', b);
    await fireRecheck();
    await waitVerified(stack, b.id);
  }, 300_000);

  it('before verification: verify (targets) and the re-check (local copy) find every flip and each is healed', async () => {
    await worker.stop();
    const run = await stack.cli(
      manualBackup(HOST, 'before', [await rotSource(stack.iso.dir, 'before')], '--json'),
    );
    expect(run.code, run.stderr).toBe(0);
    const { id } = JSON.parse(run.stdout) as { id: string };
    const replicated = await waitFor(
      async () => {
        const b = await show(stack, id);
        return b.copies.filter((c) => c.target !== 'local').every((c) => c.status === 'replicated')
          ? b
          : null;
      },
      { timeoutMs: 90_000, what: 'the backup to be replicated, not verified' },
    );
    await flipAll('before', replicated);
    worker = await stack.start(['worker'], { RECHECK_WINDOW_DAYS: '1' });
    await fireRecheck();
    await waitVerified(stack, id);
  }, 300_000);

  it('prints the verdict: every flip found and healed, none missed', async () => {
    const rows = (
      await rt.pool.query<{ copy: string; object: string; healed_at: Date | null }>(
        'SELECT copy, object, healed_at FROM rot_findings',
      )
    ).rows;
    let found = 0;
    let healed = 0;
    const missed: string[] = [];
    for (const f of flips) {
      const finding = rows.find((r) => r.copy === f.copy && r.object === f.object);
      if (!finding) {
        missed.push(`${f.when} ${f.kind}`);
        continue;
      }
      found++;
      // Healed means the bytes on disk are the recorded ones again, not only that a row says so.
      if (
        finding.healed_at &&
        sha256(await blobBytes(f.file(await copyPaths(stack, emu, f.backup)))) === f.expectedSha
      )
        healed++;
    }
    const kinds = new Set(flips.map((f) => f.kind)).size;
    console.log(
      `bit-flips: ${flips.length} flips on ${kinds} copy kinds, ${found} found, ${healed} healed, ${missed.length} missed`,
    );
    expect(missed).toEqual([]);
    expect({ flips: flips.length, kinds, found, healed }).toEqual({
      flips: 10,
      kinds: 5,
      found: 10,
      healed: 10,
    });
  });
});
