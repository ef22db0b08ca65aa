import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '@fleet-backup/db';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoleProcess, waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'lane-host';
const SMALL_FILES = 1_000;
/** Issue 11, P6: a pre-change's snapshot starts within this long, whatever its host's daily is doing. */
const START_WITHIN_MS = 5_000;

interface StageRow {
  stage: string;
  status: string;
  started_at: Date | null;
}

/**
 * A daily that runs as long as the test wants: the host's dependencies command (run by the
 * daily's snapshot, which takes all the host's sources) waits for a gate file. With the agent's
 * one normal lane held so, a pre-change of the same host must still start at once and finish.
 */
describe.skipIf(!services)('pre-change requests come first: the agent’s urgent lane', () => {
  let stack: Stack;
  let base: string;
  let source: string;
  let gate: string;
  let agent: RoleProcess;
  let pool: Pool;

  const stages = async (id: string): Promise<Map<string, StageRow>> => {
    const r = await pool.query<StageRow & { target: string }>(
      'SELECT stage, target, status, started_at FROM backup_stages WHERE backup_id = $1',
      [id],
    );
    return new Map(r.rows.map((s) => [`${s.stage}${s.target ? `.${s.target}` : ''}`, s]));
  };
  const status = async (id: string) =>
    (await pool.query<{ status: string }>('SELECT status FROM backups WHERE id = $1', [id])).rows[0]?.status;
  const request = async (args: string[]) => {
    const run = await stack.cli(['backup', '--host', HOST, ...args, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout).id as string;
  };

  beforeAll(async () => {
    // The config names the source and the gate, so both are chosen before the stack exists.
    base = path.join(os.tmpdir(), `fleet-backup-lane-${randomBytes(4).toString('hex')}`);
    source = path.join(base, 'srv');
    gate = path.join(base, 'gate');
    await makeTree(source, { largeBytes: 1024 * 1024 });
    for (let d = 0; d < SMALL_FILES / 100; d++) {
      const dir = path.join(source, 'bulk', `d${d}`);
      await mkdir(dir, { recursive: true });
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          writeFile(path.join(dir, `f${i}.bak`), randomBytes(1024 + i * 10)),
        ),
      );
    }
    const hosts = {
      [HOST]: {
        sources: [{ path: source }],
        dependencies: {
          commands: [
            {
              name: 'slow-inventory',
              argv: ['sh', '-c', `while [ ! -e '${gate}' ]; do sleep 0.05; done; echo done`],
              timeoutSeconds: 600,
            },
          ],
        },
      },
    };
    stack = await createStack(services!, 'lane', { hosts });
    pool = createPool(stack.iso.databaseUrl);
    await stack.start(['producer']);
    await stack.start(['worker']);
    // One normal lane, as by default: without the urgent lane, the pre-change would queue behind the daily.
    agent = await stack.start(['agent', '--host', HOST], { AGENT_CONCURRENCY: '1' });
  }, 120_000);
  afterAll(async () => {
    await pool?.end();
    await stack?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('starts a pre-change within 5 s and verifies it while the daily of the same host still runs', async () => {
    const daily = await request(['--kind', 'daily', '--path', source]);
    // The daily holds the normal lane: its snapshot is running, waiting on the gate.
    await waitFor(async () => (await stages(daily)).get('snapshot')?.status === 'running', {
      timeoutMs: 30_000,
      what: 'the daily snapshot to start',
    });

    const asked = Date.now();
    const pre = await request([
      '--kind',
      'pre_change',
      '--path',
      path.join(source, 'etc'),
      '--description',
      'before deploy',
      '--ticket',
      'CHG-LANE-1',
    ]);
    const started = await waitFor(async () => (await stages(pre)).get('snapshot')?.started_at, {
      timeoutMs: 30_000,
      what: 'the pre-change snapshot to start',
      detail: () => agent.log.slice(-2000),
    });
    // From the moment the request was recorded; the CLI's own start-up comes on top in the second figure.
    const recorded = await pool.query<{ created_at: Date }>('SELECT created_at FROM backups WHERE id = $1', [
      pre,
    ]);
    const startedAfterMs = started.getTime() - recorded.rows[0]!.created_at.getTime();
    const startedAfterCliMs = started.getTime() - asked;
    expect(startedAfterMs).toBeLessThan(START_WITHIN_MS);

    // All of it (snapshot, hash, replicate on the urgent lane, verify on the pool) ends before the daily moves.
    await waitFor(async () => (await status(pre)) !== 'running', {
      timeoutMs: 60_000,
      what: 'the pre-change to end',
      detail: () => agent.log.slice(-2000),
    });
    expect(await status(pre)).toBe('verified');
    // The host's backup_metadata.json already lists it: written from the urgent lane too.
    const key = (await pool.query<{ key: string }>('SELECT key FROM backups WHERE id = $1', [pre])).rows[0]!
      .key;
    const doc = JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8'));
    expect(doc.pre_change[key]).toMatchObject({ change_ticket: 'CHG-LANE-1' });
    expect((await stages(daily)).get('snapshot')?.status).toBe('running');
    expect(await status(daily)).toBe('running');

    // Issue 11, P4: the agent stays within 200 MB with both lanes busy (the daily walked its tree
    // and holds the normal lane while the pre-change ran on the urgent one).
    const bothLanesPeak = await peakRssBytes(agent);
    expect(bothLanesPeak).toBeLessThan(200 * 1_000_000);
    // Open the gate: the daily carries on and verifies too, both lanes having been busy at once.
    await writeFile(gate, '');
    await waitFor(async () => (await status(daily)) !== 'running', {
      timeoutMs: 300_000,
      intervalMs: 500,
      what: 'the daily to end',
      detail: () => agent.log.slice(-2000),
    });
    expect(await status(daily)).toBe('verified');
    const mib = (n: number) => Math.round(n / 2 ** 17) / 8;
    console.log(
      JSON.stringify({
        preChangeSnapshotStartedAfterMs: startedAfterMs,
        includingCliStartMs: startedAfterCliMs,
        agentPeakRssMiBBothLanes: mib(bothLanesPeak),
        agentPeakRssMiBAfterDaily: mib(await peakRssBytes(agent)),
      }),
    );
  }, 420_000);
});

/** The agent process's peak resident set (VmHWM), from /proc. */
async function peakRssBytes(role: RoleProcess): Promise<number> {
  const status = await readFile(`/proc/${role.child.pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]);
  return kb * 1024;
}
