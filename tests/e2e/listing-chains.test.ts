import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FsTarget, listingKey, readListedManifest, readManifest } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { flipByte } from '../support/emulators.ts';
import { copyStates, readBackNow, show, waitVerified } from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'chain-host';
const FILES = 200;

/**
 * A daily's manifest no longer lists every file: it names listing segments, a full listing and
 * then each backup's changes (libs/storage/src/listing.ts). What a restore from the bucket alone,
 * verify, the repair and the removal of a backup must then still do, through the real roles.
 */
describe.skipIf(!services)('listing chains', () => {
  let stack: Stack;
  let source: string;
  let target: FsTarget;
  let worker: RoleProcess;
  const backups: { id: string; key: string }[] = [];

  const chainOf = async (id: string) =>
    (
      await stack.iso.pool.query<{ sha256: string; full: boolean; size: number }>(
        `SELECT l.sha256, s.full_listing AS full, octet_length(s.bytes) AS size
         FROM backup_listings l JOIN listing_segments s ON s.sha256 = l.sha256
         WHERE l.backup_id = $1 ORDER BY l.seq`,
        [id],
      )
    ).rows;
  const segmentFile = (sha: string) => path.join(stack.secondDir, listingKey(HOST, sha));
  const onTarget = async () => readdir(path.join(stack.secondDir, 'hosts', HOST, 'listings')).catch(() => []);

  async function backup(label: string): Promise<{ id: string; key: string }> {
    const run = await stack.cli(manualBackup(HOST, label, [source], '--json', '--wait'));
    expect(run.code, run.stderr).toBe(0);
    const { id, key } = JSON.parse(run.stdout) as { id: string; key: string };
    expect((await show(stack, id)).status).toBe('verified');
    backups.push({ id, key });
    return { id, key };
  }

  beforeAll(async () => {
    stack = await createStack(services!, 'listing-chains');
    target = new FsTarget({ name: 'second', root: stack.secondDir });
    source = path.join(stack.iso.dir, 'src');
    await mkdir(path.join(source, 'sub'), { recursive: true });
    for (let i = 0; i < FILES; i++)
      await writeFile(path.join(source, 'sub', `f${i}.txt`), randomBytes(64).toString('hex'));
    await stack.start(['producer']);
    worker = await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('stores a later backup as its changes, and restores it from the bucket alone, byte for byte', async () => {
    const first = await backup('first');
    await writeFile(path.join(source, 'sub', 'f1.txt'), 'changed');
    await writeFile(path.join(source, 'sub', 'new.txt'), 'new');
    await rm(path.join(source, 'sub', 'f2.txt'));
    const second = await backup('second');

    const [base, delta, ...more] = await chainOf(second.id);
    expect(more).toEqual([]);
    expect(await chainOf(first.id)).toEqual([base]);
    expect(base?.full).toBe(true);
    expect(delta?.full).toBe(false);
    // Three changes of 200 files: a fraction of the full listing.
    expect(delta!.size * 10).toBeLessThan(base!.size);
    const manifest = await readManifest(target, HOST, second.key);
    expect(manifest.files).toEqual({});
    expect(manifest.listing).toEqual([base?.sha256, delta?.sha256]);
    const listed = await readListedManifest(target, HOST, second.key);
    expect(Object.keys(listed.files)).toHaveLength(FILES);

    // Postgres gone: the CLI finds the files through the manifest and its segments.
    const to = path.join(stack.iso.dir, 'restored');
    const run = await stack.cli(
      ['restore', '--target', 'second', '--host', HOST, '--backup', second.key, '--to', to, '--json'],
      { DATABASE_URL: 'postgres://root@127.0.0.1:1/none' },
    );
    expect(run.code, run.stderr).toBe(0);
    const names = await readdir(path.join(to, source.slice(1), 'sub'));
    expect(names.sort()).toEqual((await readdir(path.join(source, 'sub'))).sort());
    for (const name of names) {
      const restored = await readFile(path.join(to, source.slice(1), 'sub', name));
      expect(restored.equals(await readFile(path.join(source, 'sub', name))), name).toBe(true);
    }
  }, 240_000);

  it('finds a flipped byte in a shared segment, spoils every copy listing it, and heals it', async () => {
    const [first, second] = backups;
    const [base] = await chainOf(second!.id);
    await flipByte(segmentFile(base!.sha256));
    // No pool worker, so no repair, while the rot is looked at.
    await worker.stop();
    const found = await readBackNow(stack.env, second!.id, ['second']);
    expect(found.second).not.toEqual([]);
    // The first backup lists the same segment: its copy is spoiled too, by the same read.
    for (const b of [first!, second!]) expect(copyStates(await show(stack, b.id)).second).toBe('corrupt');
    const open = await stack.iso.pool.query(
      'SELECT problem FROM rot_findings WHERE object = $1 AND healed_at IS NULL',
      [listingKey(HOST, base!.sha256)],
    );
    expect(open.rows).toEqual([{ problem: expect.stringMatching(/^listing segment bytes differ/) }]);
    // The repair puts the segment again from Postgres; both copies read good again.
    worker = await stack.start(['worker']);
    for (const b of [first!, second!])
      expect(copyStates(await waitVerified(stack, b.id)).second).toBe('verified');
    const healed = await stack.iso.pool.query(
      'SELECT healed_from FROM rot_findings WHERE object = $1 AND healed_at IS NOT NULL',
      [listingKey(HOST, base!.sha256)],
    );
    expect(healed.rows.map((r) => r.healed_from)).toContain('catalog');
    expect(Object.keys((await readListedManifest(target, HOST, second!.key)).files)).toHaveLength(FILES);
  }, 240_000);

  it('keeps a segment while a backup still lists it, and deletes it with the last one', async () => {
    const [first, second] = backups;
    const [base, delta] = await chainOf(second!.id);
    const forget = (id: string) =>
      stack.cli(['forget', id, '--force', '--by', 'test', '--reason', 'listing chains']);
    expect((await forget(first!.id)).code).toBe(0);
    await waitFor(
      async () =>
        (await stack.iso.pool.query('SELECT 1 FROM backups WHERE id = $1', [first!.id])).rowCount === 0,
      { timeoutMs: 60_000, what: 'the first backup to be forgotten' },
    );
    // The second backup's chain starts with the first one's full listing: it stays, there and here.
    expect((await onTarget()).sort()).toEqual([base!.sha256, delta!.sha256].sort());
    expect(Object.keys((await readListedManifest(target, HOST, second!.key)).files)).toHaveLength(FILES);
    expect((await forget(second!.id)).code).toBe(0);
    await waitFor(async () => (await onTarget()).length === 0, {
      timeoutMs: 60_000,
      what: 'the segments to be deleted with the last backup listing them',
    });
    await waitFor(async () => (await stack.iso.pool.query('SELECT 1 FROM listing_segments')).rowCount === 0, {
      timeoutMs: 30_000,
      what: 'the segments to leave Postgres',
    });
  }, 240_000);
});
