import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostQueueName, STALLED_TOO_OFTEN } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { QueueProbe, show, waitForStatus } from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { writeLarge } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'stuck-stall-host';
// Large enough that the snapshot is still copying when the test sees its attempt start.
const LARGE = 192 * 1024 * 1024;
// The stage worker's maxStalledCount is 3: the 4th stall fails the job.
const KILLS = 4;

/**
 * A crash loop: the agent is SIGKILLed during the same snapshot again and again (as an OOM-killer
 * would), until BullMQ fails the job with "job stalled more than allowable limit", which runs no
 * handler of ours. The producer's reconciler must see it and record it.
 */
describe.skipIf(!services)('a job that stalls past BullMQ limit: the backup ends failed, not running', () => {
  let stack: Stack;
  let probe: QueueProbe;
  let source: string;

  beforeAll(async () => {
    stack = await createStack(services!, 'stuck-stall', { hosts: { [HOST]: { sources: [] } } });
    source = path.join(stack.iso.dir, 'src');
    await writeLarge(path.join(source, 'disk.img'), LARGE);
    await writeFile(path.join(source, 'app.conf'), 'mode=prod\n');
    probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
    await Promise.all([
      stack.start(['producer'], { RECONCILE_INTERVAL_MS: '2000' }),
      stack.start(['worker']),
    ]);
  }, 120_000);

  afterAll(async () => {
    await probe?.close();
    await stack?.stop();
  });

  const snapshotStage = async (id: string) =>
    (
      await stack.iso.pool.query<{ status: string; attempts: number }>(
        "SELECT status, attempts FROM backup_stages WHERE backup_id = $1 AND stage = 'snapshot'",
        [id],
      )
    ).rows[0]!;

  it('records the stalled job as failed with the reason and a hint, and a Bull Board retry carries it on', async () => {
    const run = await stack.cli(manualBackup(HOST, 'crash loop', [source], '--json'));
    expect(run.code, run.stderr).toBe(0);
    const { id } = JSON.parse(run.stdout) as { id: string };
    const queue = hostQueueName(HOST);
    const jobId = `${id}.snapshot`;

    for (let attempt = 1; attempt <= KILLS; attempt++) {
      const agent = await stack.start(['agent', '--host', HOST]);
      await waitFor(async () => (await snapshotStage(id)).attempts >= attempt, {
        timeoutMs: 90_000,
        intervalMs: 20,
        what: `snapshot attempt ${attempt} to start`,
      });
      await agent.kill();
      expect(await snapshotStage(id), `attempt ${attempt} finished before the kill`).toMatchObject({
        status: 'running',
        attempts: attempt,
      });
    }
    // The next agent's stalled-job check finds the job stalled a 4th time and BullMQ fails it.
    await stack.start(['agent', '--host', HOST]);
    const failed = await probe.waitForState(queue, jobId, ['failed', 'completed'], 90_000);
    expect(failed.failedReason).toBe(STALLED_TOO_OFTEN);
    expect(failed.stalledCounter).toBe(KILLS);

    expect(await waitForStatus(stack, id, ['failed', 'verified'], 60_000)).toBe('failed');
    const view = await show(stack, id);
    const snapshot = view.stages.find((s) => s.stage === 'snapshot')!;
    expect(snapshot).toMatchObject({ status: 'failed', attempts: KILLS });
    expect(snapshot.error).toContain(`snapshot stalled ${KILLS} times`);
    expect(snapshot.error).toContain(`the agent of host ${HOST} stopped while running it`);
    expect(snapshot.error).toContain(STALLED_TOO_OFTEN);
    expect(snapshot.error).toContain(`retry job ${jobId} on queue ${queue} in Bull Board`);
    // `backup --wait`'s one-line reason says the same.
    const waited = await stack.cli(['show', id]);
    expect(waited.stdout).toContain(`snapshot stalled ${KILLS} times`);

    // The operator fixes the agent and presses Retry in Bull Board.
    await failed.retry('failed');
    // (It shows failed until the retried job starts its stage again: wait for verified.)
    expect(await waitForStatus(stack, id, ['verified'], 240_000)).toBe('verified');
    const done = await show(stack, id);
    expect(done.stages.map((s) => [s.stage, s.status])).toEqual([
      ['snapshot', 'done'],
      ['hash', 'done'],
      ['replicate', 'done'],
      ['verify', 'done'],
    ]);
    console.log(
      `stuck-stall verdict: agent SIGKILLed ${KILLS} times in one snapshot -> job failed by BullMQ (stalled) -> ` +
        `backup recorded failed with hint -> verified after 1 retry`,
    );
  }, 600_000);
});
