// `npm run bench:offsite`: issue 12's targets O1–O5. Generates the data, runs the peers (cp + sync,
// restic to a local repository, restic to s3rver where it can) and fleet-backup with its fs, S3 and
// GCS stand-in targets on the same data in one run, prints every figure beside its baseline with
// the ratio and PASS/FAIL, and writes the same as JSON (--json FILE). A benchmark, not a test: a
// FAIL is a finding, and the exit code stays 0.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { serviceUrls } from '@fleet-backup/testkit';
import { bareTransfer } from './bare.ts';
import { track, undoOnSignal } from './compare/cleanup.ts';
import { changeFiles, writeRandomFile, writeSmallTree } from './compare/datasets.ts';
import { timedBackup } from './compare/fleet-runs.ts';
import { type FleetStack, peakRss, startFleetStack } from './compare/fleet-stack.ts';
import { ensureTools, timed } from './compare/peers.ts';
import { targetsTable } from './compare/print.ts';
import { added } from './offsite/objects.ts';
import { type OffsiteOptions, parseOptions, USAGE } from './offsite/options.ts';
import { extraLines, storageTable, timesTable } from './offsite/print.ts';
import * as restic from './offsite/restic.ts';
import { readAll, runSeries } from './offsite/series.ts';
import { changeDatabase, writeDatabase } from './offsite/sqlite-db.ts';
import {
  type DataSetFigures,
  type Floor,
  judge,
  type OffsiteBackup,
  type OffsiteFigures,
  type PeerRun,
} from './offsite/targets.ts';

const HOST = 'bench-host';
const run = promisify(execFile);
const began = performance.now();
const secs = (n: number | null) => (n === null ? '—' : `${n.toFixed(2)} s`);
const log = (line: string) => console.log(line);
const progress = (line: string) =>
  log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}`);

let opts: OffsiteOptions | undefined;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exitCode = 2;
}
if (opts) {
  undoOnSignal(progress);
  await offsite(opts);
}

interface Ctx {
  o: OffsiteOptions;
  work: string;
  notes: string[];
  /** restic's own s3rver; null once restic has shown it cannot use it (or it does not run). */
  s3: Awaited<ReturnType<typeof restic.resticS3Server>> | null;
}

async function offsite(o: OffsiteOptions): Promise<void> {
  const fleetRan = o.runners.has('fleet');
  const services = fleetRan ? await serviceUrls() : null;
  if (fleetRan && !services)
    throw new Error('fleet-backup needs Redis and Postgres: set REDIS_URL and DATABASE_URL');
  const work = await mkdtemp(path.join(os.tmpdir(), 'fleet-offsite-'));
  const removeWork = track(() => rm(work, { recursive: true, force: true }));
  const loadAverage = { start: os.loadavg() };
  const ctx: Ctx = { o, work, notes: [], s3: null };
  try {
    const wantRestic = o.runners.has('restic') || o.runners.has('restic-s3');
    if (wantRestic && (await ensureTools(['restic'], log)).size) {
      ctx.notes.push('restic: not installed, and apt-get could not install it');
      o.runners.delete('restic');
      o.runners.delete('restic-s3');
    }
    if (o.runners.has('restic-s3')) ctx.s3 = await restic.resticS3Server(path.join(work, 'restic-s3rver'));
    const smallWanted = o.works.has('O1') || o.works.has('O4');
    const largeWanted = o.works.has('O2') || o.works.has('O4');
    const smallDir = path.join(work, 'data', 'small');
    const largeDir = path.join(work, 'data', 'large');
    progress(`generating the data under ${work}…`);
    const small = smallWanted ? await writeSmallTree(smallDir, o.files) : null;
    if (largeWanted) await writeRandomFile(path.join(largeDir, 'payload.bin'), o.largeBytes);
    await run('sync');

    const f: OffsiteFigures = {
      fleetRan,
      files: o.files,
      small: smallWanted ? await peers(ctx, smallDir, 'small') : emptySet(),
      large: largeWanted ? await peers(ctx, largeDir, 'large') : emptySet(),
      series: null,
      dbSeries: null,
      peakRss: null,
    };
    let stack: FleetStack | null = null;
    if (fleetRan && services) {
      progress('starting fleet-backup (producer, pool worker, agent; fs, S3 and GCS stand-ins)…');
      stack = await startFleetStack(services, HOST, { bundle: o.bundle, localOnly: false });
    }
    try {
      if (stack) {
        if (smallWanted) f.small.fleet = await fleetBackup(ctx, stack, smallDir, 'small files');
        if (largeWanted) f.large.fleet = await fleetBackup(ctx, stack, largeDir, 'large file');
        if (o.works.has('O4')) {
          await fleetRestores(ctx, stack, f.small, 'small');
          await fleetRestores(ctx, stack, f.large, 'large');
        }
      }
      if (o.works.has('O3')) f.series = await treeSeries(ctx, stack);
      if (o.works.has('O3b')) f.dbSeries = await dbSeries(ctx, stack);
      // Last: its objects sit outside fleet-backup's prefix, but in the stand-ins counted above.
      if (stack && largeWanted && o.runners.has('floor'))
        f.large.floor = await floor(stack, path.join(largeDir, 'payload.bin'));
      if (stack)
        f.peakRss = {
          producer: await peakRss(stack.producer),
          'pool worker': await peakRss(stack.worker),
          agent: await peakRss(stack.agent),
        };
    } finally {
      if (stack) {
        progress('stopping the fleet-backup processes…');
        await stack.stop();
      }
    }
    progress('done');
    await report(o, f, small?.bytes ?? 0, ctx.notes, { ...loadAverage, end: os.loadavg() });
  } finally {
    await ctx.s3?.stop();
    await removeWork();
  }
}

function emptySet(): DataSetFigures {
  return { fleet: null, cp: null, restic: null, resticS3: null, restore: null };
}

/** The peers' first backups of one data set, and (for O4) restic's restores of them. */
async function peers(ctx: Ctx, source: string, label: string): Promise<DataSetFigures> {
  const { o, work } = ctx;
  const out = emptySet();
  const attempt = async (name: string, fn: () => Promise<PeerRun>): Promise<PeerRun> => {
    progress(`${name} on the ${label} data set…`);
    const r = await fn().catch((err: Error) => {
      ctx.notes.push(`${name} (${label}): ${err.message}`);
      return { seconds: null, error: err.message };
    });
    progress(`  ${name}: ${secs(r.seconds)}`);
    return r;
  };
  if (o.runners.has('cp') && (o.works.has('O1') || o.works.has('O2')))
    out.cp = await attempt('cp -r + sync', async () => ({
      seconds: await timed(['sh', '-c', 'cp -r "$0" "$1" && sync', source, path.join(work, `cp-${label}`)]),
    }));
  const repos: { key: 'restic' | 'resticS3'; make: () => Promise<restic.ResticRepo> }[] = [];
  if (o.runners.has('restic'))
    repos.push({ key: 'restic', make: () => restic.localRepo(path.join(work, `restic-${label}`)) });
  if (ctx.s3) {
    const s3 = ctx.s3;
    repos.push({
      key: 'resticS3',
      make: () => restic.s3Repo(s3, path.join(work, `restic-s3-${label}`), label),
    });
  }
  for (const { key, make } of repos) {
    let repo: restic.ResticRepo | null = null;
    const name = key === 'restic' ? 'restic backup (local repo)' : 'restic backup (s3rver)';
    out[key] = await attempt(name, async () => {
      repo = await make();
      const seconds = await restic.backup(repo, source);
      return { seconds, holdings: await repo.holdings() };
    });
    // restic that cannot talk to s3rver is a finding, recorded once: the other data set skips it.
    if (key === 'resticS3' && out[key].seconds === null) ctx.s3 = null;
    if (!repo || out[key].seconds === null || !o.works.has('O4')) continue;
    const r: restic.ResticRepo = repo;
    out.restore ??= { fleet: {}, restic: null, resticS3: null };
    out.restore[key] = await attempt(name.replace('backup', 'restore'), async () => ({
      seconds: await restic.restore(r, path.join(work, `restore-${key}-${label}`)),
    }));
  }
  return out;
}

async function fleetBackup(
  ctx: Ctx,
  stack: FleetStack,
  source: string,
  label: string,
): Promise<OffsiteBackup> {
  progress(`fleet-backup: ${label}, first backup…`);
  const before = await readAll(stack);
  await run('sync');
  const r = await timedBackup(stack, HOST, [source], label);
  const after = await readAll(stack);
  const verified = r.status === 'verified';
  if (!verified) ctx.notes.push(`fleet-backup ${label}: ${r.status}: ${r.reason ?? ''}`);
  progress(
    `  every copy ${r.status} after ${secs(r.totalSeconds)} (local verified after ${secs(r.seconds)})`,
  );
  return {
    status: r.status,
    seconds: verified ? r.totalSeconds : null,
    localSeconds: r.seconds,
    ...(r.reason ? { reason: r.reason } : {}),
    id: r.id,
    added: Object.fromEntries(Object.entries(after).map(([t, h]) => [t, added(before[t]!, h)])),
  };
}

/** O4: the data set's backup restored from each offsite stand-in in turn (`restore --from NAME`). */
async function fleetRestores(ctx: Ctx, stack: FleetStack, d: DataSetFigures, label: string): Promise<void> {
  const id = d.fleet?.id;
  d.restore ??= { fleet: {}, restic: null, resticS3: null };
  if (!id || d.fleet?.seconds === null) {
    ctx.notes.push(`O4 (${label}): no verified fleet-backup backup to restore`);
    return;
  }
  for (const t of stack.standins.filter((s) => s.kind !== 'fs')) {
    progress(`fleet-backup: restore of the ${label} data set from ${t.name}…`);
    const dir = path.join(ctx.work, `restore-fleet-${t.name}-${label}`);
    await run('sync');
    const started = performance.now();
    const out = await stack.cli(['restore', id, '--to', dir, '--from', t.name, '--json']);
    const seconds = (performance.now() - started) / 1000;
    if (out.code === 0) d.restore.fleet[t.name] = { seconds };
    else {
      const error = `exit ${out.code}: ${out.stderr.slice(-300)}`;
      ctx.notes.push(`fleet-backup restore (${label}) from ${t.name}: ${error}`);
      d.restore.fleet[t.name] = { seconds: null, error };
    }
    progress(`  ${secs(d.restore.fleet[t.name]!.seconds)}`);
  }
}

/** The stand-ins' floor: bare SDK puts and gets of the file, one stand-in after another, then all at once. */
async function floor(stack: FleetStack, file: string): Promise<Floor> {
  const clouds = stack.standins.filter((t) => t.kind !== 'fs');
  const transfer = async (t: (typeof clouds)[number], op: 'put' | 'get') =>
    (
      await bareTransfer({
        kind: t.kind as 's3' | 'gcs',
        op,
        file,
        endpoint: t.endpoint ?? '',
        bucket: t.bucket,
      })
    ).seconds;
  const out: Floor = { targets: {}, both: { put: 0, get: 0 } };
  for (const t of clouds) {
    progress(`floor: bare SDK put and get of the large file on ${t.name}…`);
    out.targets[t.name] = { put: await transfer(t, 'put'), get: await transfer(t, 'get') };
    progress(`  put ${secs(out.targets[t.name]!.put)}, get ${secs(out.targets[t.name]!.get)}`);
  }
  for (const op of ['put', 'get'] as const) {
    const started = performance.now();
    await Promise.all(clouds.map((t) => transfer(t, op)));
    out.both[op] = (performance.now() - started) / 1000;
  }
  progress(`  every stand-in at once: put ${secs(out.both.put)}, get ${secs(out.both.get)}`);
  return out;
}

async function seriesRepo(ctx: Ctx, label: string): Promise<restic.ResticRepo | null> {
  if (!ctx.o.runners.has('restic')) return null;
  return restic.localRepo(path.join(ctx.work, `restic-${label}`)).catch((err: Error) => {
    ctx.notes.push(`restic (${label}): ${err.message}`);
    return null;
  });
}

async function treeSeries(ctx: Ctx, stack: FleetStack | null) {
  const { o } = ctx;
  progress(`O3: ${o.days} dailies of ${o.seriesFiles} files, 1% changed a day…`);
  const tree = await writeSmallTree(path.join(ctx.work, 'data', 'series'), o.seriesFiles, 'offsite-series');
  let changed = 0;
  return runSeries(stack, {
    what: `a tree of ${o.seriesFiles} files`,
    changedPerDay: '1% of files changed a day',
    host: HOST,
    source: tree.root,
    days: o.days,
    fullBytes: tree.bytes,
    change: async (day) => {
      changed = await changeFiles(tree, 0.01, day);
    },
    resticRepo: await seriesRepo(ctx, 'series'),
    log: progress,
  }).then((s) => ({ ...s, changedPerDay: `${changed} of ${o.seriesFiles} files changed a day` }));
}

async function dbSeries(ctx: Ctx, stack: FleetStack | null) {
  const { o } = ctx;
  progress(`O3b: ${o.days} dailies of a ${o.dbBytes / 1024 / 1024} MiB SQLite database…`);
  const file = path.join(ctx.work, 'data', 'db', 'bench.db');
  const db = await writeDatabase(file, o.dbBytes);
  return runSeries(stack, {
    what: `a ${o.dbBytes / 1024 / 1024} MiB SQLite database`,
    changedPerDay: '1% new rows and 0.1% of rows updated a day',
    host: HOST,
    source: path.dirname(file),
    days: o.days,
    fullBytes: (await stat(file)).size,
    change: async (day) => {
      changeDatabase(db, day);
    },
    resticRepo: await seriesRepo(ctx, 'db'),
    log: progress,
  });
}

async function report(
  o: OffsiteOptions,
  f: OffsiteFigures,
  smallBytes: number,
  notes: string[],
  loadAverage: { start: number[]; end: number[] },
): Promise<void> {
  const targets = judge(f);
  const labels = {
    small: `${o.files} files of 1–8 KiB (${(smallBytes / 1e6).toFixed(1)} MB)`,
    large: `${o.largeBytes / 1024 / 1024} MiB file`,
  };
  const load = (l: number[]) => l.map((n) => n.toFixed(1)).join(' ');
  log(
    `\nfleet-backup offsite vs peers, same data, same run (${os.cpus().length} cores, files in the page cache)`,
  );
  log(`load average at the start ${load(loadAverage.start)}, at the end ${load(loadAverage.end)}\n`);
  log(timesTable(f, labels));
  log(`\nobjects and bytes written per target\n${storageTable(f)}`);
  const extra = extraLines(f);
  if (extra.length) log(`\n${extra.join('\n')}`);
  log(`\n${targetsTable(targets)}`);
  for (const n of notes) log(`note: ${n}`);
  if (o.json) {
    const doc = {
      generatedAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, memoryBytes: os.totalmem(), node: process.version, loadAverage },
      options: { ...o, works: [...o.works], runners: [...o.runners] },
      datasets: { small: { files: o.files, bytes: smallBytes }, large: { bytes: o.largeBytes } },
      figures: f,
      targets,
      notes,
    };
    await mkdir(path.dirname(path.resolve(o.json)), { recursive: true });
    await writeFile(o.json, `${JSON.stringify(doc, null, 2)}\n`);
  }
}
