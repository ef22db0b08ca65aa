// `npm run bench`: a 1 GiB generated file backed up by a real agent (the production bundle,
// started with the Dockerfile's flags) and replicated to the S3 and GCS emulators, beside a
// bare SDK upload of the same file in the same run. Prints figures and ratios; not a timed test.
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashStream } from '@fleet-backup/storage';
import { isolate, serviceUrls } from '@fleet-backup/testkit';
import { startEmulators } from '../support/emulators.ts';
import { writeLarge } from '../support/tree.ts';
import { bareTransfer } from './bare.ts';
import { launchEnv, NODE_FLAGS } from './launch.ts';

const SIZE = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const RSS_LIMIT = 200_000_000; // 200 MB
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const BUNDLE = here('../../services/launcher/dist/fleet-backup.js');
const mib = (n: number) => (n / 1024 / 1024).toFixed(1);

const services = await serviceUrls();
if (!services) throw new Error('the benchmark needs Redis and Postgres (REDIS_URL, DATABASE_URL)');
const iso = await isolate(services, 'bench');
const emu = await startEmulators('bench');
const procs: ChildProcess[] = [];
try {
  const source = path.join(iso.dir, 'src');
  await mkdir(source, { recursive: true });
  const file = path.join(source, 'payload.bin');
  console.log(`generating ${mib(SIZE)} MiB…`);
  await writeLarge(file, SIZE, 'bench');
  const { sha256 } = await hashStream(createReadStream(file));
  const config = path.join(iso.dir, 'config.json');
  await writeFile(config, JSON.stringify({ targets: emu.targets() }));
  const env = {
    ...launchEnv(),
    REDIS_URL: iso.redisUrl,
    DATABASE_URL: iso.databaseUrl,
    QUEUE_PREFIX: iso.queuePrefix,
    BACKUP_ROOT: path.join(iso.dir, 'backup'),
    FLEET_BACKUP_CONFIG: config,
    PORT: '0',
    BOARD_ADMIN_PASSWORD: 'bench-board-admin-password',
    LOG_LEVEL: 'warn',
  };
  const role = (...args: string[]) => {
    const p = spawn(process.execPath, [...NODE_FLAGS, BUNDLE, ...args], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.push(p);
    return p;
  };
  const cli = (...args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, [BUNDLE, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`fleet-backup ${args[0]} exited ${code}`)),
      );
    });
  await cli('migrate');
  role('producer');
  const worker = role('worker');
  const agent = role('agent', '--host', 'bench-host');
  await new Promise((r) => setTimeout(r, 3000));

  console.log('backing up and replicating to S3 and GCS…');
  const { id } = JSON.parse(
    await cli(
      'backup',
      '--host',
      'bench-host',
      '--kind',
      'manual',
      '--purpose',
      'bench',
      '--retention',
      'days_1',
      '--path',
      source,
      '--wait',
      '--json',
    ),
  );
  const shown = JSON.parse(await cli('show', id, '--json'));
  if (shown.files[0].sha256 !== sha256) throw new Error('the backup recorded a different sha256');
  const agentRss = await peakRss(agent);
  const workerRss = await peakRss(worker);

  console.log(`\n${mib(SIZE)} MiB, emulators on loopback, same machine, same run; status ${shown.status}\n`);
  console.log('target  run                      MiB/s   peak RSS      ratio');
  const ok = agentRss <= RSS_LIMIT && shown.status === 'verified';
  for (const kind of ['s3', 'gcs'] as const) {
    const stage = shown.stages.find(
      (s: { stage: string; target: string }) => s.stage === 'replicate' && s.target === kind,
    );
    const ours = SIZE / 1024 / 1024 / ((Date.parse(stage.finished) - Date.parse(stage.started)) / 1000);
    const target = emu.targets().find((t) => t.name === kind) as { url: string };
    const endpoint = new URL(target.url).searchParams.get('endpoint') ?? '';
    const bare = await bareTransfer({ kind, op: 'put', file, endpoint, bucket: emu.bucket });
    const bareRate = bare.bytes / 1024 / 1024 / bare.seconds;
    console.log(
      `${kind.padEnd(7)} bare SDK upload       ${bareRate.toFixed(1).padStart(6)}   ${mib(bare.peakRssBytes).padStart(6)} MiB`,
    );
    console.log(
      `${kind.padEnd(7)} replicate (agent)     ${ours.toFixed(1).padStart(6)}   ${mib(agentRss).padStart(6)} MiB   ${(ours / bareRate).toFixed(2)}`,
    );
  }
  console.log(`\npool worker (verify read both copies back): peak RSS ${mib(workerRss)} MiB`);
  console.log(
    `agent peak RSS (snapshot, hash, replicate ×2): ${mib(agentRss)} MiB — ${ok ? 'under' : 'OVER'} 200 MB`,
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1500));
  await emu.stop();
  await iso.cleanup();
}

/** VmHWM: the process's peak resident set, from /proc. */
async function peakRss(p: ChildProcess): Promise<number> {
  const status = await readFile(`/proc/${p.pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}
