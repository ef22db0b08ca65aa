import { type DailySchedule, nextDailyRun, utcDay } from '@fleet-backup/core';
import {
  type HostView,
  hostDailySchedule,
  reconcileDailySchedulers,
  requestDaily,
  syncConfiguredHosts,
} from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RoleProcess, waitFor } from '../support/cli.ts';
import {
  dailiesByHost,
  dailyJobs,
  dailySchedulers,
  type SimulatedFleet,
  startSimulatedFleet,
  triggerDailySchedulers,
} from '../support/fleet.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const N = 50;
const DAY_MS = 86_400_000;

describe.skipIf(!services)('a fleet of 50 hosts: self-registration, one scheduler and one daily each', () => {
  let stack: Stack;
  let fleet: SimulatedFleet;
  let producer: RoleProcess;
  let beforeProducer: Date;
  let firstDailies: Map<string, string>;

  const hostsJson = async (): Promise<HostView[]> => {
    const run = await stack.cli(['hosts', '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as HostView[];
  };

  beforeAll(async () => {
    // The producer's and the pool worker's config lists no hosts: the agents register them.
    stack = await createStack(services!, 'fleet');
    fleet = await startSimulatedFleet(stack, N);
    beforeProducer = new Date();
    producer = await stack.start(['producer']);
    await stack.start(['worker', '--concurrency', '8']);
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
    await stack?.stop();
  });

  it('registers every host with its sources, labels, zone and last-seen time', async () => {
    const rows = await fleet.rt.hosts.list();
    expect(rows.map((r) => r.id)).toEqual(fleet.hosts.map((h) => h.id));
    for (const [i, h] of fleet.hosts.entries()) {
      const row = rows[i]!;
      expect(row).toMatchObject({
        sources: [{ path: h.source, config: false }],
        labels: { rack: `r${i % 5}` },
        timeZone: h.timeZone,
        inConfig: false,
        deregisteredAt: null,
      });
      expect(row.lastSeen).toBeInstanceOf(Date);
    }
  });

  it('keeps exactly one scheduler per host, at its jittered local time, each with one pending job', async () => {
    const schedulers = await dailySchedulers(fleet.rt);
    expect(schedulers.map((s) => s.id).sort()).toEqual(fleet.hosts.map((h) => `daily.${h.id}`));
    const rows = new Map((await fleet.rt.hosts.list()).map((r) => [r.id, r]));
    const now = new Date();
    for (const s of schedulers) {
      const host = (s.data as { host: string }).host;
      const expected: DailySchedule = hostDailySchedule(rows.get(host)!, fleet.rt.config);
      expect(s).toMatchObject({ name: 'daily', pattern: expected.pattern, tz: expected.timeZone });
      expect(expected.at >= '02:00' && expected.at <= '02:59').toBe(true);
      // BullMQ's cron parser and our own zone arithmetic agree on the next run.
      expect([
        nextDailyRun(expected, beforeProducer).getTime(),
        nextDailyRun(expected, now).getTime(),
      ]).toContain(s.next?.getTime());
    }
    // The jitter spreads the fleet: not everyone at 02:00.
    expect(new Set(schedulers.map((s) => s.pattern)).size).toBeGreaterThan(20);
    expect((await dailyJobs(fleet.rt, ['delayed'])).length).toBe(N);
  });

  it('creates exactly one daily per host when every scheduler fires, expiring 30 days after creation', async () => {
    expect(await triggerDailySchedulers(fleet.rt)).toBe(N);
    const dailies = await waitFor(
      async () => {
        const by = await dailiesByHost(fleet.rt);
        const all = [...by.values()].flat();
        return all.length === N && all.every((d) => d.status === 'verified') ? by : null;
      },
      { timeoutMs: 90_000, what: '50 verified dailies', intervalMs: 500 },
    );
    firstDailies = new Map();
    for (const h of fleet.hosts) {
      const list = dailies.get(h.id) ?? [];
      expect(list.length, h.id).toBe(1);
      const d = list[0]!;
      expect(d.key).toBe(utcDay(d.created));
      expect(d.expires!.getTime() - d.created.getTime()).toBe(30 * DAY_MS);
      firstDailies.set(h.id, d.id);
    }
  }, 100_000);

  it('never duplicates schedulers or dailies across producer restarts, two producers at once and repeated triggers', async () => {
    await producer.stop();
    await (await stack.start(['producer'])).stop();
    await Promise.all([stack.start(['producer']), stack.start(['producer'])]);
    expect((await dailySchedulers(fleet.rt)).length).toBe(N);
    // One pending job per scheduler: no producer left a second one behind.
    const pending = await dailyJobs(fleet.rt, ['delayed', 'waiting']);
    expect(new Set(pending.map((j) => j.repeatJobKey)).size).toBe(N);
    expect(pending.length).toBe(N);

    // Fire every scheduler again and add a duplicate daily job per host, all at once.
    const before = (await dailyJobs(fleet.rt, ['completed'])).length;
    await Promise.all([
      triggerDailySchedulers(fleet.rt),
      ...fleet.hosts.map((h) => fleet.rt.queues.add('daily', { host: h.id })),
    ]);
    await waitFor(async () => (await dailyJobs(fleet.rt, ['completed'])).length >= before + 2 * N, {
      timeoutMs: 30_000,
      what: 'the repeated daily jobs to complete',
    });
    expect(await dailyJobs(fleet.rt, ['failed'])).toEqual([]);
    const dailies = await dailiesByHost(fleet.rt);
    for (const h of fleet.hosts)
      expect(dailies.get(h.id)?.map((d) => d.id)).toEqual([firstDailies.get(h.id)]);
    expect((await dailySchedulers(fleet.rt)).length).toBe(N);
  }, 60_000);

  it('adds and removes schedulers as hosts join and leave, by registration and by config', async () => {
    const rt = fleet.rt;
    await rt.hosts.register('fleet-new', {
      timeZone: 'Europe/Paris',
      details: {
        sources: [{ path: '/srv/new', config: false }],
        labels: {},
        timeZone: null,
        dailyAt: '03:00',
        dailyJitterMinutes: 0,
      },
    });
    // Asserted on the end state: a running producer's own sweep may have got there first.
    await reconcileDailySchedulers(rt);
    const created = (await dailySchedulers(rt)).find((s) => s.id === 'daily.fleet-new');
    expect(created).toMatchObject({ pattern: '0 3 * * *', tz: 'Europe/Paris' });

    const removed = await stack.cli(['hosts', 'remove', 'fleet-new', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toMatchObject({ host: 'fleet-new', schedulerRemoved: true });
    expect((await dailySchedulers(rt)).length).toBe(N);
    await reconcileDailySchedulers(rt);
    expect((await dailySchedulers(rt)).length).toBe(N);
    expect((await hostsJson()).find((h) => h.host === 'fleet-new')).toMatchObject({
      overdue: false,
      schedule: null,
    });

    // A producer whose config file lists a host schedules it, and deregisters it once it is removed.
    const withHost = {
      ...rt,
      config: {
        ...rt.config,
        configFile: 'producer.json',
        hosts: { 'cfg-01': { sources: [{ path: '/etc/cfg', config: true }], labels: {} } },
      },
    };
    await syncConfiguredHosts(withHost);
    await reconcileDailySchedulers(withHost);
    expect((await dailySchedulers(rt)).map((s) => s.id)).toContain('daily.cfg-01');
    expect(await syncConfiguredHosts({ ...withHost, config: { ...withHost.config, hosts: {} } })).toEqual([
      'cfg-01',
    ]);
    await reconcileDailySchedulers(rt);
    expect((await dailySchedulers(rt)).length).toBe(N);
  });

  it('shows a host whose agent stopped as down and, once its daily is too old, overdue', async () => {
    const stopped = 'fleet-07';
    await fleet.agents.get(stopped)?.close();
    fleet.agents.delete(stopped);
    // 30 hours pass for that host: its heartbeat and its last daily age, nothing new arrives.
    await fleet.rt.pool.query(
      `UPDATE hosts SET last_seen = last_seen - interval '30 hours', first_seen = first_seen - interval '30 hours' WHERE id = $1`,
      [stopped],
    );
    await fleet.rt.pool.query(
      `UPDATE backups SET created_at = created_at - interval '30 hours' WHERE host = $1`,
      [stopped],
    );
    const views = await hostsJson();
    const down = views.find((v) => v.host === stopped)!;
    expect(down).toMatchObject({ agent: 'down', overdue: true, lastDaily: { status: 'verified' } });
    expect(down.reason).toMatch(/no verified daily for 30 h \(limit 26 h\); agent not seen since/);
    const fine = views.filter(
      (v) => v.host.startsWith('fleet-') && v.host !== stopped && v.host !== 'fleet-new',
    );
    expect(fine).toHaveLength(N - 1);
    for (const v of fine)
      expect(v).toMatchObject({ agent: 'up', overdue: false, lastDaily: { status: 'verified' } });

    const url = /"url":"(http[^"]+)"/.exec(stack.roles.at(-1)?.log ?? '')?.[1];
    const api = (await (await fetch(`${url}/v1/hosts`)).json()) as { hosts: HostView[]; overdue: string[] };
    expect(api.overdue).toEqual([stopped]);
    expect(api.hosts.find((h) => h.host === stopped)?.overdue).toBe(true);
  });

  it('requests one daily per host and UTC day however many triggers race, with the configured retention', async () => {
    const rt = { ...fleet.rt, config: { ...fleet.rt.config, dailyRetentionDays: 7 } };
    await rt.hosts.register('fleet-ttl', {
      timeZone: 'UTC',
      details: {
        sources: [{ path: '/srv/ttl', config: false }],
        labels: {},
        timeZone: null,
        dailyAt: null,
        dailyJitterMinutes: null,
      },
    });
    const results = await Promise.all(Array.from({ length: 8 }, () => requestDaily(rt, 'fleet-ttl')));
    const outcomes = results.map((r) => r.outcome).sort();
    expect(outcomes).toEqual([
      'exists',
      'exists',
      'exists',
      'exists',
      'exists',
      'exists',
      'exists',
      'requested',
    ]);
    const ids = new Set(results.map((r) => (r.outcome === 'skipped' ? null : r.backup.id)));
    expect(ids.size).toBe(1);
    const [daily] = (await dailiesByHost(rt)).get('fleet-ttl') ?? [];
    expect(daily!.expires!.getTime() - daily!.created.getTime()).toBe(7 * DAY_MS);
    await rt.hosts.deregister('fleet-ttl');
    expect(await requestDaily(rt, 'fleet-ttl')).toMatchObject({ outcome: 'skipped' });
  });
});
