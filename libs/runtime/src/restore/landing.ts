import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type FileHandle, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { forEachLimited } from '@fleet-backup/core';
import type { DirTree } from './dir-tree.ts';
import { inDir } from './dir-tree.ts';
import { placeEntry } from './place.ts';

/** A restored file, checked and closed under its temporary name, waiting for its final one. */
export interface Written {
  parent: Buffer[];
  temp: string;
  name: Buffer;
  display: string;
  size: number;
}

const BATCH_FILES = 1000;
const BATCH_BYTES = 256 * 1024 * 1024;
const PLACING = 16;
// coreutils' `sync -f` is syncfs(2), which Node does not expose.
const SYNC = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p));
const run = promisify(execFile);

/**
 * Renames restored files into place a batch at a time, each batch after one syncfs(2) of the
 * restore's filesystem: a final name only ever points at bytes already on disk, as with an fsync
 * per file before its rename, but with one flush per thousand files instead of one per file (the
 * fsyncs were most of a 20,000-file restore). Files on another filesystem below the top, and
 * every file where there is no sync command (null), are synced themselves before their rename.
 */
export class BatchedLanding {
  private readonly tree: DirTree;
  private readonly force: boolean;
  /** The device of the restore's top: `sync -f` flushes that filesystem only. */
  private readonly dev: number;
  /** Whether each directory (by key) is on that filesystem. */
  private readonly onTopFs = new Map<string, Promise<boolean>>();
  private batch: Written[] = [];
  private bytes = 0;
  private landing: Promise<void> = Promise.resolve();

  private constructor(tree: DirTree, force: boolean, dev: number) {
    this.tree = tree;
    this.force = force;
    this.dev = dev;
  }

  static async create(tree: DirTree, force: boolean): Promise<BatchedLanding | null> {
    if (!SYNC) return null;
    const top = await tree.dir([], { create: false });
    return top ? new BatchedLanding(tree, force, (await top.stat()).dev) : null;
  }

  /**
   * Whether a file written in `dir` can wait for a batch: only on the top's filesystem, the one
   * the flush covers. A restore `--to /` also writes into /var, /home… when they are mounts of
   * their own; there each file is synced before its rename, as without a sync command.
   */
  covers(dir: FileHandle, key: string): Promise<boolean> {
    let known = this.onTopFs.get(key);
    if (!known) {
      known = dir.stat().then((s) => s.dev === this.dev);
      this.onTopFs.set(key, known);
    }
    return known;
  }

  /** Queues a written file; resolves once its batch has landed when this one filled the batch. */
  add(file: Written): Promise<void> {
    this.batch.push(file);
    this.bytes += file.size;
    return this.batch.length >= BATCH_FILES || this.bytes >= BATCH_BYTES ? this.flush() : Promise.resolve();
  }

  /** Lands every file queued so far (batches land one after another, in order). */
  flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    this.bytes = 0;
    this.landing = this.landing.then(() => this.land(batch));
    return this.landing;
  }

  /** After a failure: the files not placed are removed, so no temporary name is left behind. */
  async discard(): Promise<void> {
    await this.landing.catch(() => {});
    const left = this.batch;
    this.batch = [];
    await this.remove(left);
  }

  private async land(batch: Written[]): Promise<void> {
    if (!batch.length) return;
    let placed = 0;
    try {
      await run(SYNC as string, ['-f', this.tree.top]);
      await forEachLimited(batch, PLACING, async (w) => {
        await this.tree.use(w.parent, { create: false }, async (dir) => {
          if (!dir) throw new Error(`the directory of ${w.display} is gone`);
          await placeEntry(dir.fd, w.temp, w.name, { force: this.force, display: w.display });
        });
        placed++;
      });
    } catch (err) {
      // Those placed are gone from their temporary names; removing them again is harmless.
      if (placed < batch.length) await this.remove(batch);
      throw err;
    }
  }

  private async remove(files: Written[]): Promise<void> {
    for (const w of files)
      await this.tree
        .use(w.parent, { create: false }, async (dir) => {
          if (dir) await unlink(inDir(dir.fd, w.temp));
        })
        .catch(() => {});
  }
}
