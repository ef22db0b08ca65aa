// `npm run bench:compare`: issue 11's targets P1–P6. Generates the data sets, runs the peers
// (cp + sync, cp -al, rsync, restic, borg) and fleet-backup on the same data in one run, prints
// every figure beside its baseline with the ratio and PASS/FAIL, and writes the same as JSON
// (--json FILE). A benchmark, not a test: a FAIL is a finding, and the exit code stays 0.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { serviceUrls } from '@fleet-backup/testkit';
import { track, undoOnSignal } from './compare/cleanup.ts';
import { writeRandomFile, writeSmallTree } from './compare/datasets.ts';
import { type FleetRun, type PreChangeWait, preChangeWhileDaily, timedBackup } from './compare/fleet-runs.ts';
import { peakRss, startFleetStack } from './compare/fleet-stack.ts';
import { type CompareOptions, parseOptions, USAGE } from './compare/options.ts';
import { ensureTools, PEERS, type Peer, runPeer } from './compare/peers.ts';
import { figuresTable, targetsTable } from './compare/print.ts';
import { runSeries, type SeriesFigures } from './compare/series.ts';
import { type Figures, judge, type PeerSet } from './compare/targets.ts';

const HOST = 'bench-host';
const run = promisify(execFile);
const began = performance.now();
const secs = (n: number | null) => (n === null ? '—' : `${n.toFixed(2)} s`);
const log = (line: string) => console.log(line);
/** A progress line, stamped with the seconds since the run began. */
const progress = (line: string) =>
  log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}`);

let opts: CompareOptions | undefined;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exitCode = 2;
}
if (opts) {
  undoOnSignal(progress);
  await compare(opts);
}

async function compare(o: CompareOptions): Promise<void> {
  const fleetRan = o.only.has('fleet');
  const services = fleetRan ? await serviceUrls() : null;
  if (fleetRan && !services)
    throw new Error('fleet-backup needs Redis and Postgres: set REDIS_URL and DATABASE_URL');
  const work = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-'));
  const removeWork = track(() => rm(work, { recursive: true, force: true }));
  // Figures are only comparable on a quiet machine: the load is recorded beside them.
  const loadAverage = { start: os.loadavg() };
  const errors: string[] = [];
  try {
    const peers = PEERS.filter((p) => o.only.has(p));
    const missing = await ensureTools(peers, log);
    const runnable = peers.filter((p) => !missing.has(p));
    for (const m of missing) errors.push(`${m}: not installed, and apt-get could not install it`);

    const largeDir = path.join(work, 'data', 'large');
    const smallDir = path.join(work, 'data', 'small');
    progress(
      `generating ${o.largeBytes / 1024 / 1024} MiB file and ${o.smallFiles} small files under ${work}…`,
    );
    await writeRandomFile(path.join(largeDir, 'payload.bin'), o.largeBytes);
    const small = await writeSmallTree(smallDir, o.smallFiles);
    await run('sync');

    const f: Figures = {
      fleetRan,
      large: { first: null, rerun: null, peers: await peerRuns(runnable, largeDir, work, 'large', errors) },
      small: { first: null, rerun: null, peers: await peerRuns(runnable, smallDir, work, 'small', errors) },
      agentPeakRssBytes: null,
      preChange: null,
      series: null,
    };
    if (fleetRan && services) {
      const stack = await startFleetStack(services, HOST, { bundle: o.bundle, localOnly: o.localOnly });
      try {
        f.large.first = await fleetRun(stack, largeDir, 'large file, first', errors);
        f.large.rerun = await fleetRun(stack, largeDir, 'large file, unchanged re-run', errors);
        f.small.first = await fleetRun(stack, smallDir, 'small files, first', errors);
        f.small.rerun = await fleetRun(stack, smallDir, 'small files, unchanged re-run', errors);
        // A tree no backup has seen yet, so the daily does a first backup's work while P6 measures.
        const dailyDir = path.join(work, 'data', 'daily');
        await run('cp', ['-r', smallDir, dailyDir]);
        progress('P6: a pre-change of the large file while a daily of the small files runs…');
        f.preChange = await preChangeWhileDaily(
          stack,
          HOST,
          dailyDir,
          largeDir,
          o.preChangeLimitSeconds,
        ).catch((err: Error) => {
          errors.push(`P6: ${err.message}`);
          return null;
        });
        f.agentPeakRssBytes = await peakRss(stack.agent);
      } finally {
        progress('stopping the fleet-backup processes…');
        await stack.stop();
      }
      progress(`P5: ${o.days} dailies of ${o.seriesFiles} files on a simulated clock…`);
      f.series = await runSeries(services, { files: o.seriesFiles, days: o.days, log: progress }).catch(
        (err: Error) => {
          errors.push(`P5: ${err.message}`);
          return null;
        },
      );
    }
    progress('done');
    await report(o, f, small.bytes, errors, { ...loadAverage, end: os.loadavg() });
  } finally {
    await removeWork();
  }
}

async function peerRuns(
  peers: Peer[],
  source: string,
  work: string,
  label: string,
  errors: string[],
): Promise<PeerSet> {
  const out: PeerSet = {};
  for (const peer of peers) {
    progress(`${peer} on the ${label} data set…`);
    // Each peer's copy stays until the end: removing 20,000 files just before the next run makes
    // ext4 skip their freshly freed inodes (recently_deleted) on every create of that run, which
    // slowed whoever came next severalfold. Each timed run starts after a `sync`.
    const dir = path.join(work, `peers-${label}-${peer}`);
    const figures = await runPeer(peer, source, dir).catch((err: Error) => {
      errors.push(`${peer} (${label}): ${err.message}`);
      return { first: null, rerun: null };
    });
    out[peer] = figures;
    progress(`  ${peer}: first ${secs(figures.first)}, re-run ${secs(figures.rerun)}`);
  }
  return out;
}

async function fleetRun(
  stack: Awaited<ReturnType<typeof startFleetStack>>,
  source: string,
  label: string,
  errors: string[],
): Promise<FleetRun> {
  progress(`fleet-backup: ${label}…`);
  await run('sync');
  const r = await timedBackup(stack, HOST, [source], label);
  if (r.status !== 'verified') errors.push(`fleet-backup ${label}: ${r.status}: ${r.reason ?? ''}`);
  progress(`  local verified after ${secs(r.seconds)}, ${r.status} after ${secs(r.totalSeconds)}`);
  return r;
}

async function report(
  o: CompareOptions,
  f: Figures,
  smallBytes: number,
  errors: string[],
  loadAverage: { start: number[]; end: number[] },
): Promise<void> {
  const targets = judge(f);
  const labels = {
    large: `${o.largeBytes / 1024 / 1024} MiB file`,
    small: `${o.smallFiles} files of 1–8 KiB (${(smallBytes / 1e6).toFixed(1)} MB)`,
  };
  const load = (l: number[]) => l.map((n) => n.toFixed(1)).join(' ');
  log(`\nfleet-backup vs peers, same data, same run (${os.cpus().length} cores, files in the page cache)`);
  log(`load average at the start ${load(loadAverage.start)}, at the end ${load(loadAverage.end)}\n`);
  log(figuresTable(f, labels));
  log(extraLines(f.preChange, f.series, f.agentPeakRssBytes).join('\n'));
  log(`\n${targetsTable(targets)}`);
  for (const e of errors) log(`note: ${e}`);
  if (o.json) {
    const doc = {
      generatedAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, memoryBytes: os.totalmem(), node: process.version, loadAverage },
      options: { ...o, only: [...o.only] },
      datasets: { large: { bytes: o.largeBytes }, small: { files: o.smallFiles, bytes: smallBytes } },
      figures: f,
      targets,
      errors,
    };
    await writeJson(o.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

function extraLines(p6: PreChangeWait | null, s: SeriesFigures | null, rss: number | null): string[] {
  const lines = [''];
  if (rss !== null) lines.push(`agent peak RSS (VmHWM) over P1–P3 and P6: ${(rss / 1e6).toFixed(1)} MB`);
  if (p6)
    lines.push(
      `pre-change behind a running daily: ${p6.seconds === null ? `not started within ${p6.limitSeconds} s` : `snapshot started ${p6.seconds.toFixed(2)} s after the request`}` +
        ` (the daily's stages running at the request: ${p6.dailyStagesAtRequest.join(', ') || 'none'}; ` +
        `at the pre-change's start the daily was ${p6.dailyStillRunning === null ? '?' : p6.dailyStillRunning ? 'still running' : 'over'})`,
    );
  if (s)
    lines.push(
      `P5 series: ${s.days} dailies of ${s.files} files, ${s.changedPerDay} changed a day, in ${s.seconds.toFixed(0)} s; ` +
        `disk ${(s.backupDiskBytes / 1e6).toFixed(1)} MB for a ${(s.treeDiskBytes / 1e6).toFixed(1)} MB tree; ` +
        `Postgres +${((s.pgFirstBytes - s.pgEmptyBytes) / 1e6).toFixed(2)} MB first, +${((s.pgRerunBytes - s.pgFirstBytes) / 1e6).toFixed(2)} MB unchanged re-run, ` +
        `${((s.pgEndBytes - s.pgEmptyBytes) / 1e6).toFixed(2)} MB at the end for ${s.fileVersions} file versions` +
        (s.notVerified.length ? `; not verified: ${s.notVerified.join(', ')}` : ''),
    );
  return lines;
}

async function writeJson(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, text);
}
