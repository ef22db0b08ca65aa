import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { hostQueueName, type JobData, type JobName, POOL_QUEUE } from '@fleet-backup/queue';
import { describeBackup, openRuntime, type Runtime, requestBackup } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { type Role, startAgent, startPoolWorker } from '@fleet-backup/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fileIdentities,
  hashTree,
  QueueProbe,
  type ShowView,
  show,
  waitForStatus,
} from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'idem-host';
const METADATA = 'backup_metadata.json';

/** Everything a backup leaves behind, which a repeated stage must leave exactly as it was. */
interface EndState {
  show: ShowView;
  local: Record<string, string>;
  target: Record<string, string>;
  metadata: string;
}

/** The show view without what legitimately moves when a stage runs again: times and attempt counts. */
function withoutRunFacts(view: ShowView): unknown {
  return {
    ...view,
    stages: view.stages.map(({ started: _s, finished: _f, attempts: _a, ...s }) => s),
    // How much a verify read back and how much it found already read good differ between runs
    // (a second run reads nothing the first read); what it found does not.
    copies: view.copies.map(({ verified: _v, detail, ...c }) => {
      const { checkedBytes: _c, vouchedBytes: _w, ...found } = (detail ?? {}) as Record<string, unknown>;
      return { ...c, detail: found };
    }),
  };
}

interface StageJob {
  stage: string;
  target: string;
  queue: string;
  name: JobName;
  jobId: string;
  data: JobData<JobName>;
}

describe.skipIf(!services)('at-least-once delivery gives exactly-once effects', () => {
  let stack: Stack;
  let rt: Runtime;
  let roles: Role[] = [];
  let probe: QueueProbe;
  let backupId: string;
  let baseline: EndState;
  /** Inode and mtime of every stored file after the first run: a rewrite changes them. */
  let identities: { local: Record<string, string>; target: Record<string, string> };
  const queues = [hostQueueName(HOST), POOL_QUEUE];

  async function capture(): Promise<EndState> {
    const local = await hashTree(stack.backupRoot);
    delete local[METADATA];
    return {
      show: await show(stack, backupId),
      local,
      target: await hashTree(stack.secondDir),
      metadata: await readFile(path.join(stack.backupRoot, METADATA), 'utf8'),
    };
  }

  /** The same view as `show --json`, built in-process: for the cheap reads between the real ones. */
  async function currentView(): Promise<ShowView> {
    return JSON.parse(JSON.stringify(describeBackup(await rt.backups.detail(backupId))));
  }

  async function storedIdentities() {
    const local = await fileIdentities(stack.backupRoot);
    delete local[METADATA]; // rewritten (same bytes) whenever a stage asks the agent to refresh it
    return { local, target: await fileIdentities(stack.secondDir) };
  }

  function stageJobs(): StageJob[] {
    const base = { backupId, host: HOST };
    const target = 'second';
    return [
      {
        stage: 'snapshot',
        target: '',
        queue: queues[0]!,
        name: 'snapshot',
        jobId: `${backupId}.snapshot`,
        data: base,
      },
      { stage: 'hash', target: '', queue: queues[0]!, name: 'hash', jobId: `${backupId}.hash`, data: base },
      {
        stage: 'replicate',
        target,
        queue: queues[0]!,
        name: 'replicate',
        jobId: `${backupId}.replicate.${target}`,
        data: { ...base, target },
      },
      {
        stage: 'verify',
        target,
        queue: POOL_QUEUE,
        name: 'verify',
        jobId: `${backupId}.verify.${target}`,
        data: { ...base, target },
      },
    ];
  }

  /** Delivers the stage's job again, with its own deterministic id, and waits for all follow-up work. */
  async function deliverAgain(job: StageJob): Promise<void> {
    const previous = await probe.job(job.queue, job.jobId);
    expect(previous, `${job.jobId} from the first run`).toBeDefined();
    await previous!.remove();
    await rt.queues.add(job.name, job.data);
    const done = await probe.waitForState(job.queue, job.jobId, ['completed', 'failed']);
    expect(done.failedReason).toBeUndefined();
    await probe.drained(queues);
  }

  beforeAll(async () => {
    stack = await createStack(services!, 'idempotency');
    const source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 3 * 1024 * 1024 });
    rt = await openRuntime(loadConfig({ ...stack.env, LOG_LEVEL: 'warn' }), {
      name: 'idempotency',
      migrate: true,
    });
    roles = [await startAgent(rt, HOST, stack.backupRoot), await startPoolWorker(rt, 2)];
    probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
    const { backup } = await requestBackup(rt, {
      host: HOST,
      kind: 'manual',
      purpose: 'idempotency',
      retention: 'permanent',
      description: 'idem',
      paths: [source],
    });
    backupId = backup.id;
    expect(await waitForStatus(stack, backupId, ['verified', 'unverified', 'failed'])).toBe('verified');
    await probe.drained(queues);
    baseline = await capture();
    identities = await storedIdentities();
    expect(baseline.show.stages.map((s) => [s.stage, s.status, s.attempts])).toEqual([
      ['snapshot', 'done', 1],
      ['hash', 'done', 1],
      ['replicate', 'done', 1],
      ['verify', 'done', 1],
    ]);
    expect(Object.keys(baseline.local).length).toBeGreaterThan(5);
    // Small files and the large file's chunks go up as one pack: the target holds it, the manifest
    // and the manifest's one listing segment.
    expect(Object.keys(baseline.target).filter((k) => k.startsWith('packs/'))).toHaveLength(1);
    expect(Object.keys(baseline.target).filter((k) => k.includes('/listings/'))).toHaveLength(1);
    expect(Object.keys(baseline.target)).toHaveLength(3);
  }, 60_000);

  afterAll(async () => {
    for (const role of roles) await role.close();
    await rt?.close();
    await probe?.close();
    await stack?.stop();
  });

  describe.each(['snapshot', 'hash', 'replicate', 'verify'])('%s', (stage) => {
    const job = () => stageJobs().find((j) => j.stage === stage)!;

    it('delivered again after it finished: skipped as done, nothing redone, nothing changed', async () => {
      const before = await currentView();
      await deliverAgain(job());
      const after = await capture();
      // The full view, attempt counts and finish times included: no stage ran again.
      expect(after.show).toEqual(before);
      expect(withoutRunFacts(after.show)).toEqual(withoutRunFacts(baseline.show));
      expect(after.local).toEqual(baseline.local);
      expect(after.target).toEqual(baseline.target);
      expect(after.metadata).toBe(baseline.metadata);
      // No stored file was rewritten, not even with the same bytes.
      expect(await storedIdentities()).toEqual(identities);
    });

    it('run again after a worker died between its work and its commit: the same end state', async () => {
      const j = job();
      // What Postgres holds when a worker is killed after doing the work but before committing. With
      // the later stages already done, it is also what a late duplicate delivery (a stalled job handed
      // out again while its first run was still going) meets when it commits.
      await stack.iso.pool.query(
        "UPDATE backup_stages SET status = 'running' WHERE backup_id = $1 AND stage = $2 AND target = $3",
        [backupId, j.stage, j.target],
      );
      const attempts = (await currentView()).stages.find((s) => s.stage === j.stage)!.attempts;
      await deliverAgain(j);
      const after = await capture();
      // It really ran again (one more attempt), and converged on the same state.
      expect(after.show.stages.find((s) => s.stage === j.stage)).toMatchObject({
        status: 'done',
        attempts: attempts + 1,
      });
      expect(withoutRunFacts(after.show)).toEqual(withoutRunFacts(baseline.show));
      expect(after.show.status).toBe('verified');
      expect(after.local).toEqual(baseline.local);
      expect(after.target).toEqual(baseline.target);
      expect(after.metadata).toBe(baseline.metadata);
      identities = await storedIdentities();
    });
  });
});
