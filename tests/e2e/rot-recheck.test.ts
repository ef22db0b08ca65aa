import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { ManualClock } from '@fleet-backup/core';
import { hostQueueName, JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import {
  hostRecheckSchedule,
  openRuntime,
  type Runtime,
  targetRecheckSchedule,
  waitForJob,
} from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { type Role, recheckTarget, startAgent } from '@fleet-backup/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoleProcess, waitFor } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import {
  copyPaths,
  copyStates,
  flipByte,
  rotSource,
  type ShownBackup,
  show,
  waitVerified,
} from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'rot-recheck-host';
const KEY = `rot2:${randomBytes(32).toString('base64')}`;
const DAY = 86_400_000;
const WINDOW = 30;

describe.skipIf(!services)(
  'the rolling re-check: every copy re-read within the window, rot found and healed',
  () => {
    let stack: Stack;
    let emu: Emulators;
    let worker: RoleProcess;
    let agentProcess: RoleProcess;
    let producer: RoleProcess;
    let base: string | undefined;
    let source: string;
    let shown: ShownBackup;
    // The simulated side: a runtime on a manual clock, and the host's agent on it.
    let rt: Runtime;
    let clock: ManualClock;
    let agent: Role | undefined;

    beforeAll(async () => {
      emu = await startEmulators('rotrecheck');
      base = await mkdtemp(path.join(os.tmpdir(), 'fbt-rot-recheck-'));
      source = await rotSource(base, 'recheck');
      stack = await createStack(services!, 'rot-recheck', {
        hosts: { [HOST]: { sources: [{ path: source }], timeZone: 'Europe/Berlin' } },
        targets: emu.targets(),
      });
      producer = await stack.start(['producer']);
      worker = await stack.start(['worker']);
      agentProcess = await stack.start(['agent', '--host', HOST], { ENCRYPTION_KEY: KEY });
      clock = new ManualClock(new Date());
      rt = await openRuntime(loadConfig({ ...stack.env, ENCRYPTION_KEY: KEY, LOG_LEVEL: 'warn' }), {
        name: 'rot-recheck-test',
        clock,
        log: capturedLog('rot-recheck-test').log,
      });
    }, 120_000);
    afterAll(async () => {
      await agent?.close();
      await rt?.close();
      await stack?.stop();
      await emu?.stop();
      if (base) await rm(base, { recursive: true, force: true });
    });

    it('keeps one re-check scheduler per target on the pool and one on each host queue', async () => {
      const run = await stack.cli([
        'backup',
        '--host',
        HOST,
        '--kind',
        'daily',
        '--path',
        source,
        '--json',
        '--wait',
      ]);
      expect(run.code, run.stderr).toBe(0);
      shown = await show(stack, JSON.parse(run.stdout).id);
      expect(shown.status).toBe('verified');
      const schedulers = new JobSchedulers(rt.queues);
      const pool = await schedulers.list(POOL_QUEUE, 'recheck.');
      expect(pool.map((s) => [s.id, s.name, s.pattern, s.tz, s.data]).sort()).toEqual(
        ['gcs', 's3', 'second']
          .map((t) => {
            const want = targetRecheckSchedule(t, rt.config);
            return [want.id, 'recheck', '0 5 * * *', 'UTC', { target: t }];
          })
          .sort(),
      );
      const host = (await rt.hosts.get(HOST))!;
      const local = await schedulers.list(hostQueueName(HOST), 'recheck-local');
      const want = hostRecheckSchedule(host, rt.config);
      expect(local).toEqual([
        expect.objectContaining({
          id: 'recheck-local',
          name: 'recheck-local',
          pattern: want.pattern,
          tz: 'Europe/Berlin',
          data: { host: HOST },
        }),
      ]);
      expect(want.pattern).toMatch(/^\d+ 5 \* \* \*$/);
    });

    /** Today's slice of one target, retried on a transient error as its BullMQ job would be. */
    const recheckDay = async (target: string, day: number): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          const ctx = { jobId: `${target}-${day}`, attempt, maxAttempts: 3, log: rt.log };
          await recheckTarget(rt, { target }, { ...ctx, signal: AbortSignal.timeout(120_000) });
          return;
        } catch (err) {
          if (attempt >= 3 || (err as { transient?: unknown }).transient !== true) throw err;
        }
      }
    };

    it(`finds bytes flipped after verified in every copy kind within ${WINDOW} simulated days, then heals them`, async () => {
      const at = await copyPaths(stack, emu, shown);
      const flips = [
        at.local('a.txt'),
        at.local('server.key'),
        at.s3('b.txt'),
        at.gcs('c.txt'),
        at.second('d.txt'),
      ];
      for (const file of flips) await flipByte(file);
      // From here the pool worker is stopped (so a repair waits and the damage can be seen) and the
      // host's agent runs in this process, on the simulated clock.
      await worker.stop();
      await agentProcess.stop();
      agent = await startAgent(rt, HOST, stack.backupRoot);

      const foundOn = new Map<string, number>();
      const newFindings = async (day: number) => {
        const r = await rt.pool.query<{ copy: string; object: string; found_by: string }>(
          'SELECT copy, object, found_by FROM rot_findings',
        );
        for (const f of r.rows) {
          expect(f.found_by).toBe('recheck');
          const what = `${f.copy} ${f.object}`;
          if (!foundOn.has(what)) foundOn.set(what, day);
        }
      };
      // The scheduler's own pending job fires the first day's local slice.
      const pending = (await rt.queues.queue(hostQueueName(HOST)).getJobs(['delayed'], 0, -1)).find(
        (j) => j?.name === 'recheck-local',
      );
      expect(pending).toBeDefined();
      let sawUnverified = false;
      const start = clock.now();
      for (let day = 0; day < WINDOW; day++) {
        for (const target of ['second', 's3', 'gcs']) {
          await recheckDay(target, day);
        }
        let jobId: string;
        if (day === 0 && pending) {
          await pending.promote();
          jobId = pending.id!;
        } else jobId = await rt.queues.add('recheck-local', { host: HOST });
        expect(await waitForJob(rt, hostQueueName(HOST), jobId, 120_000)).toMatchObject({
          state: 'completed',
        });
        await newFindings(day);
        const now = await show(stack, shown.id);
        if (now.status === 'unverified') sawUnverified = true;
        clock.advance(DAY);
      }
      // Every flip found, each within the window (a slice of ~1/30 of the bytes a day).
      expect(foundOn.size).toBe(5);
      expect(Math.max(...foundOn.values())).toBeLessThan(WINDOW);
      // And every blob of every target and every local file was read back during the window.
      const unread = await rt.pool.query(
        `SELECT target FROM target_blobs WHERE checked_at IS NULL OR checked_at < $1
         UNION ALL SELECT path FROM backup_files WHERE local_checked_at IS NULL OR local_checked_at < $1`,
        [start],
      );
      expect(unread.rows).toEqual([]);
      expect([...foundOn.keys()].map((k) => k.split(' ')[0]).sort()).toEqual([
        'gcs',
        'local',
        'local',
        's3',
        'second',
      ]);

      // The target copies are corrupt, and so is the backup's verified and 3-2-1, until the repairs run.
      const hurt = await show(stack, shown.id);
      expect(sawUnverified).toBe(true);
      expect(hurt.status).toBe('unverified');
      expect(copyStates(hurt)).toEqual({
        local: 'verified',
        second: 'corrupt',
        s3: 'corrupt',
        gcs: 'corrupt',
      });
      expect(hurt.compliance.ok).toBe(false);
      const metadata = async () =>
        JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8')).daily[
          shown.key
        ];
      await waitFor(async () => (await metadata()).verified === false, {
        what: 'backup_metadata.json to say unverified',
      });
      // The local copy was healed by its agent from a target as soon as its slice found it.
      const local = hurt.copies.find((c) => c.target === 'local')!;
      // (A file read bad has its whole backup's local copy read and healed: both flips at once.)
      expect((local.detail.check as { healed: unknown[] }).healed).toHaveLength(2);

      worker = await stack.start(['worker']);
      await waitVerified(stack, shown.id);
      await waitFor(async () => (await metadata()).verified === true, {
        what: 'backup_metadata.json to say verified again',
      });
      const open = await rt.pool.query('SELECT copy, object FROM rot_findings WHERE healed_at IS NULL');
      expect(open.rows).toEqual([]);
      for (const file of [at.local('a.txt'), path.join(source, 'a.txt')])
        expect(await readFile(file)).toBeDefined();
      expect(await readFile(at.local('a.txt'))).toEqual(await readFile(path.join(source, 'a.txt')));
    }, 600_000);

    it('reports the fraction of each copy read back in the window, in report and in a metric', async () => {
      const report = JSON.parse((await stack.cli(['report', '--json'])).stdout);
      expect(report.recheck.windowDays).toBe(WINDOW);
      const copies = Object.fromEntries(
        (report.recheck.copies as { copy: string; fraction: number; bytes: number }[]).map((c) => [
          c.copy,
          c,
        ]),
      );
      for (const copy of ['local', 'second', 's3', 'gcs']) {
        expect(copies[copy]?.bytes, copy).toBeGreaterThan(0);
        expect(copies[copy]?.fraction, copy).toBe(1);
      }
      expect(
        report.rot.counts.map((c: { copy: string; found: number; healed: number }) => [
          c.copy,
          c.found,
          c.healed,
        ]),
      ).toEqual([
        ['gcs', 1, 1],
        ['local', 2, 2],
        ['s3', 1, 1],
        ['second', 1, 1],
      ]);
      expect((await stack.cli(['report'])).stdout).toMatch(
        /copies read back within the last 30 days \(rolling re-check\) \(4\)/,
      );
      const url = JSON.parse(producer.log.split('\n').find((l) => l.includes('"producer listening"'))!)
        .url as string;
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/fleet_backup_recheck_coverage_ratio\{copy="local"\} 1\n/);
      expect(metrics).toMatch(/fleet_backup_rot_found_24h\{copy="local"\} 2\n/);
    });
  },
);
