import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { DAILY_SCHEDULER_PREFIX } from '@fleet-backup/core';
import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { type Role, startAgent } from '@fleet-backup/worker';
import type { Stack } from './stack.ts';

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Asia/Tokyo',
  'Australia/Adelaide',
  'America/Los_Angeles',
  'Asia/Kolkata',
];

export interface SimulatedHost {
  id: string;
  source: string;
  timeZone: string;
}

/**
 * Simulated hosts, all served from this one process: one runtime (one Postgres pool, one Redis
 * connection) and one agent per host, each a BullMQ worker on its own host queue, as
 * `agent --host ID` runs it. Fifty agent processes would not fit this 2-core machine.
 */
export interface SimulatedFleet {
  hosts: SimulatedHost[];
  rt: Runtime;
  agents: Map<string, Role>;
  /** The agents' config file: each host's sources, labels and zone, and the stack's targets. */
  configFile: string;
  close(): Promise<void>;
}

export function fleetHostId(i: number): string {
  return `fleet-${String(i).padStart(2, '0')}`;
}

/** Writes each host's files and the agents' config, then starts every agent (which registers its host). */
export async function startSimulatedFleet(stack: Stack, count: number): Promise<SimulatedFleet> {
  const hosts: SimulatedHost[] = [];
  for (let i = 0; i < count; i++) {
    const id = fleetHostId(i);
    const source = path.join(stack.iso.dir, 'hosts', id, 'srv');
    await mkdir(path.join(source, 'etc'), { recursive: true });
    await writeFile(path.join(source, 'etc', 'app.conf'), `host=${id}\n`);
    await writeFile(path.join(source, 'data.bin'), Buffer.alloc(4096, i));
    hosts.push({ id, source, timeZone: ZONES[i % ZONES.length] ?? 'UTC' });
  }
  const configFile = path.join(stack.iso.dir, 'agents.json');
  await writeFile(
    configFile,
    JSON.stringify({
      hosts: Object.fromEntries(
        hosts.map((h, i) => [
          h.id,
          { sources: [{ path: h.source }], labels: { rack: `r${i % 5}` }, timeZone: h.timeZone },
        ]),
      ),
      targets: [{ name: 'second', url: `file://${stack.secondDir}` }],
    }),
  );
  const config = loadConfig({ ...stack.env, FLEET_BACKUP_CONFIG: configFile, LOG_LEVEL: 'warn' });
  const rt = await openRuntime(config, { name: 'fleet-agents' });
  const agents = new Map<string, Role>();
  await Promise.all(
    hosts.map(async (h) => {
      agents.set(h.id, await startAgent(rt, h.id, path.join(stack.backupRoot, h.id)));
    }),
  );
  return {
    hosts,
    rt,
    agents,
    configFile,
    async close() {
      await Promise.all([...agents.values()].map((a) => a.close()));
      agents.clear();
      await rt.close();
    },
  };
}

/** The daily schedulers on the pool queue, by id. */
export async function dailySchedulers(rt: Runtime) {
  return new JobSchedulers(rt.queues).list(POOL_QUEUE, DAILY_SCHEDULER_PREFIX);
}

/** Jobs of the pool queue named `daily`, in the given states. */
export async function dailyJobs(
  rt: Runtime,
  states: ('delayed' | 'waiting' | 'active' | 'completed' | 'failed')[],
) {
  const jobs = await rt.queues.queue(POOL_QUEUE).getJobs(states, 0, -1);
  return jobs.filter((j) => j?.name === 'daily');
}

/** Fires every daily scheduler now: promotes each scheduler's pending (delayed) job. */
export async function triggerDailySchedulers(rt: Runtime): Promise<number> {
  const delayed = await dailyJobs(rt, ['delayed']);
  for (const job of delayed) await job.promote();
  return delayed.length;
}

/** Daily backup rows per host. */
export async function dailiesByHost(
  rt: Runtime,
): Promise<Map<string, { id: string; key: string; status: string; created: Date; expires: Date | null }[]>> {
  const r = await rt.pool.query(
    "SELECT id, host, key, status, created_at, expires_at FROM backups WHERE kind = 'daily' ORDER BY host, created_at",
  );
  const out = new Map<
    string,
    { id: string; key: string; status: string; created: Date; expires: Date | null }[]
  >();
  for (const row of r.rows as {
    id: string;
    host: string;
    key: string;
    status: string;
    created_at: Date;
    expires_at: Date | null;
  }[]) {
    const list = out.get(row.host) ?? [];
    list.push({
      id: row.id,
      key: row.key,
      status: row.status,
      created: row.created_at,
      expires: row.expires_at,
    });
    out.set(row.host, list);
  }
  return out;
}
