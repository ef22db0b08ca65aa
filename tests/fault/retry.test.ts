import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { hostQueueName } from '@fleet-backup/queue';
import { FsTarget, indexPacks } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupAndWait, fileIdentities, QueueProbe, show, waitForStatus } from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'retry-host';

describe.skipIf(!services)('an operator retry of a failed job finishes the backup', () => {
  let stack: Stack;
  let probe: QueueProbe;
  let source: string;

  beforeAll(async () => {
    stack = await createStack(services!, 'retry');
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 2 * 1024 * 1024 });
    // The fs target's root is not there yet (an unmounted disk): the target never creates it.
    await rm(stack.secondDir, { recursive: true });
    probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
    await Promise.all([stack.start(['worker']), stack.start(['agent', '--host', HOST])]);
  });

  afterAll(async () => {
    await probe?.close();
    await stack?.stop();
  });

  it('fails replicate for good on a missing target root, then completes on retry without redoing earlier stages', async () => {
    const w = await backupAndWait(stack, [
      '--host',
      HOST,
      '--kind',
      'manual',
      '--purpose',
      'retry',
      '--retention',
      'permanent',
      '--description',
      'retry',
      '--path',
      source,
    ]);
    const missing = new RegExp(`root ${stack.secondDir} of target second does not exist: create or mount it`);
    expect(w.run.code, w.run.stderr).toBe(1);
    expect(w.result).toMatchObject({ status: 'failed' });
    expect(w.result?.reason).toMatch(missing);
    const { id, key } = w.result!;

    const failed = await show(stack, id);
    expect(failed.status).toBe('failed');
    expect(failed.stages.map((s) => [s.stage, s.status, s.attempts])).toEqual([
      ['snapshot', 'done', 1],
      ['hash', 'done', 1],
      ['replicate', 'failed', 1],
      ['verify', 'pending', 0],
    ]);
    expect(failed.stages[2]?.error).toMatch(missing);
    const jobId = `${id}.replicate.second`;
    const job = await probe.waitForState(hostQueueName(HOST), jobId, ['failed']);
    expect(job.opts.attempts).toBe(8);
    expect(job.attemptsMade).toBe(1); // permanent: no retries spent
    expect(job.failedReason).toMatch(missing);
    const local = await fileIdentities(path.join(stack.backupRoot, key));

    // The operator mounts the disk and presses Retry in Bull Board.
    await mkdir(stack.secondDir);
    await job.retry('failed');
    const retried = await probe.waitForState(hostQueueName(HOST), jobId, ['completed', 'failed']);
    expect(retried.failedReason).toBeUndefined();
    expect(await waitForStatus(stack, id, ['verified', 'unverified', 'failed'])).toBe('verified');

    const done = await show(stack, id);
    expect(done.stages.map((s) => [s.stage, s.status, s.attempts, s.error])).toEqual([
      ['snapshot', 'done', 1, null],
      ['hash', 'done', 1, null],
      ['replicate', 'done', 2, null],
      ['verify', 'done', 1, null],
    ]);
    expect(done.copies.map((c) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['second', 'verified'],
    ]);
    // The local copy was not rewritten, and the target now holds every blob plus the manifest.
    expect(await fileIdentities(path.join(stack.backupRoot, key))).toEqual(local);
    const stored = await listFiles(stack.secondDir);
    const packed = await indexPacks(new FsTarget({ name: 'second', root: stack.secondDir }));
    for (const f of done.files) {
      // A large file is stored as its chunks, each in a pack.
      const chunks = await stack.iso.pool.query(
        'SELECT chunk_sha256 AS sha FROM blob_chunks WHERE blob_sha256 = $1',
        [f.sha256],
      );
      const blobs: string[] = chunks.rows.length ? chunks.rows.map((r) => r.sha) : [f.sha256];
      for (const blob of blobs)
        expect(packed.has(blob) || stored.some((s) => s.endsWith(blob)), f.path).toBe(true);
    }
    expect(stored.filter((s) => s.includes(key))).toHaveLength(1);
  });
});
