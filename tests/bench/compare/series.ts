// P5: a host's dailies over simulated days on a ManualClock (real agent, pool worker, Postgres,
// Redis and an fs target, all in this process, as tests/lifecycle runs them): what the local
// disk and the Postgres catalog cost as the tree changes by 1% a day.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requestDaily } from '@fleet-backup/runtime';
import type { ServiceUrls } from '@fleet-backup/testkit';
import { createFleet, type Fleet } from '../../lifecycle/fleet.ts';
import { track } from './cleanup.ts';
import { changeFiles, writeSmallTree } from './datasets.ts';

const run = promisify(execFile);
const DAY = 86_400_000;
const HOST = 'bench-series';

export interface SeriesFigures {
  files: number;
  days: number;
  changedPerDay: number;
  /** Dailies that did not end `verified` (their keys). */
  notVerified: string[];
  /** `du` of the host's backup root (hardlinked files counted once) and of the tree, in bytes. */
  backupDiskBytes: number;
  treeDiskBytes: number;
  /** Postgres (every table of the schema, indexes and TOAST included) before, after day 1 and after day 2 (unchanged). */
  pgEmptyBytes: number;
  pgFirstBytes: number;
  pgRerunBytes: number;
  pgEndBytes: number;
  /** File versions the series holds: the first backup's files plus every change since. */
  fileVersions: number;
  seconds: number;
}

/**
 * Day 1 backs up the whole tree; day 2 is an unchanged re-run; every later day changes 1% of the
 * files first. Each daily is the one its scheduler would request, on the simulated day.
 */
export async function runSeries(
  services: ServiceUrls,
  opts: { files: number; days: number; log: (line: string) => void },
): Promise<SeriesFigures> {
  const started = performance.now();
  const fleet = await createFleet(services, 'bench-series', {
    hosts: [HOST],
    start: '2026-03-01T02:00:00.000Z',
  });
  const close = track(() => fleet.close());
  try {
    const tree = await writeSmallTree(fleet.sourceDir(HOST), opts.files, 'bench-series');
    const notVerified: string[] = [];
    const daily = async () => {
      const status = await dailyToEnd(fleet);
      if (status.status !== 'verified') notVerified.push(`${status.key}: ${status.status}`);
    };
    const pgEmptyBytes = await catalogBytes(fleet);
    await daily();
    const pgFirstBytes = await catalogBytes(fleet);
    fleet.clock.advance(DAY);
    await daily();
    const pgRerunBytes = await catalogBytes(fleet);
    let fileVersions = tree.files.length;
    let changedPerDay = 0;
    for (let day = 3; day <= opts.days; day++) {
      fleet.clock.advance(DAY);
      changedPerDay = await changeFiles(tree, 0.01, day);
      fileVersions += changedPerDay;
      await daily();
      if (day % 5 === 0) opts.log(`  P5: day ${day} of ${opts.days}`);
    }
    return {
      files: tree.files.length,
      days: opts.days,
      changedPerDay,
      notVerified,
      backupDiskBytes: await du(fleet.backupRoot(HOST)),
      treeDiskBytes: await du(tree.root),
      pgEmptyBytes,
      pgFirstBytes,
      pgRerunBytes,
      pgEndBytes: await catalogBytes(fleet),
      fileVersions,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await close();
  }
}

/** Requests today's (simulated) daily and waits for its pipeline to end. */
async function dailyToEnd(fleet: Fleet): Promise<{ key: string; status: string }> {
  const outcome = await requestDaily(fleet.rt, HOST);
  if (outcome.outcome === 'skipped') throw new Error(`P5: daily skipped: ${outcome.reason}`);
  const { id, key } = outcome.backup;
  for (;;) {
    const r = await fleet.rt.pool.query<{ status: string }>('SELECT status FROM backups WHERE id = $1', [id]);
    const status = r.rows[0]?.status ?? 'missing';
    if (status !== 'running') return { key, status };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Bytes of every table in the schema, with indexes and TOAST: whatever shape the catalog takes,
 * its growth shows here.
 */
async function catalogBytes(fleet: Fleet): Promise<number> {
  const r = await fleet.rt.pool.query<{ bytes: string }>(
    `SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname = current_schema()`,
  );
  return Number(r.rows[0]?.bytes ?? 0);
}

/** Disk usage in bytes; du counts a file with several hardlinks once. */
async function du(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', dir]);
  return Number(stdout.split('\t')[0]);
}
