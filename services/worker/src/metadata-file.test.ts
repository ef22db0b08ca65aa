import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_COPY, ManualClock } from '@fleet-backup/core';
import { BackupStore, HostStore, hostMetadata, type SnapshotFile } from '@fleet-backup/db';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METADATA_FILE, writeHostMetadataFile } from './metadata-file.ts';

const services = await serviceUrls();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const CHILD = fileURLToPath(new URL('./metadata-file.child.ts', import.meta.url));

function files(n: number, dir: string): SnapshotFile[] {
  return Array.from({ length: n }, (_, i) => {
    const p = `${dir}/${String(i % 100).padStart(3, '0')}/${'deep-directory-name/'.repeat(3)}file-${String(i).padStart(6, '0')}.dat`;
    return { path: p, storedPath: `${p}.bak`, cls: 'general', size: i, sha256: sha(String(i)), hasWal: null };
  });
}

/** Runs the write in a child process whose heap is capped below the document's size. */
function writeInSmallHeap(
  databaseUrl: string,
  host: string,
  dir: string,
): Promise<{ base: number; peak: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--max-old-space-size=48', '--max-semi-space-size=1', '--expose-gc', CHILD, databaseUrl, host, dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`child exited ${code}: ${err.slice(-2000)}`));
    });
  });
}

describe.skipIf(!services)('backup_metadata.json on the host', () => {
  let env: Isolated;
  let store: BackupStore;
  const clock = new ManualClock('2026-07-01T02:00:00Z');

  beforeAll(async () => {
    env = await isolate(services!, 'metadata-file');
    store = new BackupStore(env.pool, clock);
    await new HostStore(env.pool, clock).touch('small-01');
    await new HostStore(env.pool, clock).touch('big-01');
  });
  afterAll(() => env?.cleanup());

  const daily = async (host: string, list: SnapshotFile[]) => {
    clock.advance(86_400_000);
    const { backup } = await store.create({
      request: { host, kind: 'daily', paths: ['/srv'] },
      targets: [],
      dailyRetentionDays: 30,
    });
    await store.transaction(async (tx) => {
      await store.saveSnapshot(tx, backup.id, list, []);
      await store.finishStage(tx, backup.id, 'snapshot');
    });
    return backup.id;
  };

  it('is written atomically, and again only when something the seed shows changed', async () => {
    const dir = path.join(env.dir, 'small');
    const id = await daily('small-01', files(50, 'srv/a'));
    const file = await writeHostMetadataFile(env.pool, 'small-01', dir);
    expect(file).toBe(path.join(dir, METADATA_FILE));
    const text = await readFile(file, 'utf8');
    expect(text).toBe(`${JSON.stringify(await hostMetadata(env.pool, 'small-01'), null, 2)}\n`);
    const first = await stat(file);

    // Nothing the seed shows changed (a stage started, the hash stage vouched): not rewritten.
    await store.startStage(id, 'hash');
    await store.transaction((tx) => store.markHashed(tx, id));
    await writeHostMetadataFile(env.pool, 'small-01', dir);
    const same = await stat(file);
    expect([same.ino, same.mtimeMs]).toEqual([first.ino, first.mtimeMs]);

    // The backup verified: its entry changed, so a new file is renamed into place.
    await store.transaction(async (tx) => {
      await store.setCopy(tx, id, LOCAL_COPY, 'verified', {});
      await store.finishStage(tx, id, 'hash');
    });
    await writeHostMetadataFile(env.pool, 'small-01', dir);
    const after = await stat(file);
    expect(after.ino).not.toBe(first.ino);
    expect(
      JSON.parse(await readFile(file, 'utf8')).daily[Object.keys(JSON.parse(text).daily)[0] as string],
    ).toMatchObject({
      status: 'verified',
      verified: true,
    });
    // A new snapshot saved (new files) rewrites it too; a file removed behind our back is written again.
    await daily('small-01', files(60, 'srv/a'));
    await writeHostMetadataFile(env.pool, 'small-01', dir);
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).daily)).toHaveLength(2);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('writes a 100,000-file host in a heap smaller than the document', async () => {
    const dir = path.join(env.dir, 'big');
    await daily('big-01', files(100_000, 'srv/big'));
    const heap = await writeInSmallHeap(env.databaseUrl, 'big-01', dir);
    const size = (await stat(path.join(dir, METADATA_FILE))).size;
    const doc = JSON.parse(await readFile(path.join(dir, METADATA_FILE), 'utf8'));
    expect(
      Object.keys(Object.values(doc.daily as Record<string, { files: object }>)[0]?.files ?? {}),
    ).toHaveLength(100_000);
    console.info(
      `metadata file: ${(size / 2 ** 20).toFixed(1)} MiB written, heap ${(heap.base / 2 ** 20).toFixed(1)} → peak ${(heap.peak / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(size).toBeGreaterThan(20 * 2 ** 20);
    expect(heap.peak - heap.base).toBeLessThan(16 * 2 ** 20);
  });
});
