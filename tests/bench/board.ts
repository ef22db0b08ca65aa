// `npm run bench:board`: Bull Board with 200 host queues (BENCH_HOSTS) plus the pool, each with
// a few jobs, served by a real producer process; times the board's queue-list API and the page
// load in headless Chromium (navigation until the network is idle). Prints figures; not a test.
import { systemClock } from '@fleet-backup/core';
import { HostStore } from '@fleet-backup/db';
import { hostQueueName, POOL_QUEUE } from '@fleet-backup/queue';
import { serviceUrls } from '@fleet-backup/testkit';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { waitFor } from '../support/cli.ts';
import { QueueProbe } from '../support/fault.ts';
import { createStack } from '../support/stack.ts';
import { basicAuth, launchChromium } from '../ui/browser.ts';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 200);
const JOBS_PER_HOST = Number(process.env.BENCH_JOBS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const FAILED_POOL_JOBS = 20;
// A fleet's agents and workers hold Redis connections (BullMQ: about two each); idle ones stand in.
const REDIS_CLIENTS = Number(process.env.BENCH_REDIS_CLIENTS ?? 2 * HOSTS);

const services = await serviceUrls();
if (!services) throw new Error('the benchmark needs Redis and Postgres (REDIS_URL, DATABASE_URL)');
const stack = await createStack(services, 'bench-board');
const probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
const browser = await launchChromium();
const clients: Redis[] = [];
try {
  const producer = await stack.start(['producer']);
  const board = /"board":"([^"]+)"/.exec(producer.log)?.[1];
  if (!board) throw new Error(`the producer logged no board URL:\n${producer.log}`);
  const password = stack.env.BOARD_ADMIN_PASSWORD!;

  console.log(`registering ${HOSTS} hosts with ${JOBS_PER_HOST} jobs each…`);
  const hosts = Array.from({ length: HOSTS }, (_, i) => `bench-${String(i).padStart(3, '0')}`);
  const store = new HostStore(stack.iso.pool, systemClock);
  for (const host of hosts) await store.touch(host);
  for (const host of hosts) await addJobs(probe, hostQueueName(host), host);
  await failPoolJobs(stack.iso.redisUrl, stack.iso.queuePrefix);
  for (let i = 0; i < REDIS_CLIENTS; i++) clients.push(new Redis(stack.iso.redisUrl, { lazyConnect: true }));
  await Promise.all(clients.map((c) => c.connect()));

  const api = `${board}/api/queues?page=1&jobsPerPage=10`;
  const headers = basicAuth('admin', password);
  // The board re-reads the host list at most every 5 s: wait until it lists every host.
  await waitFor(
    async () =>
      ((await (await fetch(api, { headers })).json()) as { queues: unknown[] }).queues.length > HOSTS,
    { timeoutMs: 15_000, what: `the board to list ${HOSTS + 1} queues` },
  );

  const apiMs = await timed(RUNS * 2, async () => {
    const res = await fetch(api, { headers });
    if (!res.ok) throw new Error(`GET ${api}: ${res.status}`);
    await res.arrayBuffer();
  });
  const last = hosts.at(-1)!;
  const pages: [string, string, Look][] = [
    ['overview, host group open (the default)', board, { visible: 'pool (all workers)' }],
    [
      'overview, host group collapsed (remembered)',
      board,
      { visible: 'pool (all workers)', collapsed: true },
    ],
    ['overview of queues with failed jobs', `${board}/?status=failed`, { visible: 'pool (all workers)' }],
    ['one host queue page', `${board}/queue/${hostQueueName(last)}`, { visible: `bench-${last}-0` }],
  ];
  const loads: [string, number[], number[]][] = [];
  for (const [what, url, look] of pages) {
    const runs: Load[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await loadPage(url, password, look));
    loads.push([what, sorted(runs.map((r) => r.visibleMs)), sorted(runs.map((r) => r.idleMs))]);
  }

  console.log(
    `\nBull Board, ${HOSTS} host queues + pool, ${JOBS_PER_HOST} jobs per host, ${REDIS_CLIENTS} other Redis clients, ${RUNS} runs each`,
  );
  console.log('(producer process, Redis and Postgres on loopback, headless Chromium, same 2-core machine)\n');
  console.log(
    `${"GET /admin/queues/api/queues (every queue's counts)".padEnd(52)} median ${ms(apiMs, 0.5)}, p95 ${ms(apiMs, 0.95)}`,
  );
  console.log(
    `\n${'page load (cold, fresh context)'.padEnd(44)}  queues shown (median, p95)   network idle (median, p95)`,
  );
  for (const [what, visible, idle] of loads) {
    console.log(
      `${what.padEnd(44)}  ${ms(visible, 0.5)} ${ms(visible, 0.95)}             ${ms(idle, 0.5)} ${ms(idle, 0.95)}`,
    );
  }
} finally {
  for (const c of clients) c.disconnect();
  await browser.close();
  await probe.close();
  await stack.stop();
}

/** Waiting jobs and a few delayed ones, as a host's queue holds between stages. */
async function addJobs(probe: QueueProbe, queue: string, host: string): Promise<void> {
  const jobs = Array.from({ length: JOBS_PER_HOST }, (_, i) => ({
    name: 'snapshot',
    data: { host, bench: i },
    opts: { jobId: `bench-${host}-${i}`, delay: i % 2 ? 3_600_000 : 0 },
  }));
  await probe.queue(queue).addBulk(jobs);
}

/** Failed jobs on the pool queue, so the board has errors to render. */
async function failPoolJobs(redisUrl: string, prefix: string): Promise<void> {
  const pool = probe.queue(POOL_QUEUE);
  await pool.addBulk(
    Array.from({ length: FAILED_POOL_JOBS }, (_, i) => ({
      name: 'verify',
      data: { i },
      opts: { attempts: 1 },
    })),
  );
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker(
    POOL_QUEUE,
    async () => {
      throw new Error('bench: target unreachable');
    },
    { connection, prefix, concurrency: 10 },
  );
  await waitFor(async () => (await pool.getFailedCount()) >= FAILED_POOL_JOBS, { what: 'pool jobs to fail' });
  await worker.close();
  connection.disconnect();
}

interface Look {
  /** Text that appears once the page shows its queues (all cards render in one React commit). */
  visible: string;
  /** The operator collapsed the host group once: the UI keeps that in localStorage. */
  collapsed?: boolean;
}

interface Load {
  visibleMs: number;
  idleMs: number;
}

/** One cold page load in a fresh context (no cache), logged in as admin; BENCH_SCREENSHOT=dir keeps a look. */
async function loadPage(url: string, password: string, look: Look): Promise<Load> {
  const context = await browser.newContext({ httpCredentials: { username: 'admin', password } });
  if (look.collapsed) {
    await context.addInitScript(() =>
      localStorage.setItem(
        'bull-board:overview-state',
        JSON.stringify({ state: { state: { host: false } }, version: 0 }),
      ),
    );
  }
  const page = await context.newPage();
  const start = performance.now();
  const res = await page.goto(url, { waitUntil: 'commit' });
  if (res?.status() !== 200) throw new Error(`${url}: ${res?.status()}`);
  await page.getByText(look.visible, { exact: true }).first().waitFor({ timeout: 60_000 });
  const visibleMs = performance.now() - start;
  await page.waitForLoadState('networkidle');
  const idleMs = performance.now() - start;
  const shots = process.env.BENCH_SCREENSHOT;
  if (shots)
    await page.screenshot({
      path: `${shots}/${url.replace(/\W+/g, '_')}${look.collapsed ? '_collapsed' : ''}.png`,
    });
  await context.close();
  return { visibleMs, idleMs };
}

async function timed(runs: number, fn: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    out.push(performance.now() - start);
  }
  return sorted(out);
}

function sorted(values: number[]): number[] {
  return values.slice().sort((a, b) => a - b);
}

/** The q-quantile of sorted values, as "123 ms". */
function ms(values: number[], q: number): string {
  const v = values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)] ?? Number.NaN;
  return `${v.toFixed(0).padStart(5)} ms`;
}
