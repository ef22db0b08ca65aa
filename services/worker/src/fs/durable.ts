import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { forEachLimited } from '@fleet-backup/core';

const run = promisify(execFile);
const PARALLEL_FSYNC = 32;

/**
 * Makes a freshly written backup directory durable in one go, instead of one fsync per file as it
 * is written (which left the capture idle on the disk most of the time): one syncfs of the backup
 * filesystem through coreutils' `sync -f`, or, where that is missing, an fsync of every file in
 * parallel; then every directory that received a rename, deepest first, is fsynced. Called after
 * every file is under its final name and before the snapshot is recorded, so a recorded snapshot is
 * on disk; until then a power cut can tear only files of a snapshot nobody recorded, which the
 * next run copies again.
 */
export async function makeDurable(dir: string, storedPaths: string[]): Promise<void> {
  const synced = await run('sync', ['-f', dir]).then(
    () => true,
    () => false,
  );
  if (!synced) await forEachLimited(storedPaths, PARALLEL_FSYNC, (p) => fsyncPath(path.join(dir, p), 'r'));
  const dirs = new Set<string>([dir, path.dirname(dir)]);
  for (const p of storedPaths) {
    for (let d = path.dirname(path.join(dir, p)); d.startsWith(dir) && !dirs.has(d); d = path.dirname(d))
      dirs.add(d);
  }
  // Deepest first, level by level: a directory's entry in its parent is synced after its contents.
  const byDepth = new Map<number, string[]>();
  for (const d of dirs) {
    const depth = d.split('/').length;
    const level = byDepth.get(depth);
    if (level) level.push(d);
    else byDepth.set(depth, [d]);
  }
  for (const depth of [...byDepth.keys()].sort((a, b) => b - a))
    await forEachLimited(byDepth.get(depth) ?? [], PARALLEL_FSYNC, (d) => fsyncPath(d, 'r'));
}

/** fsyncs one file or directory by path. */
export async function fsyncPath(p: string, flags: string): Promise<void> {
  const handle = await open(p, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
