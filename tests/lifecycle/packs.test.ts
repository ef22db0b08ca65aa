import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runExpire, runGc } from '@fleet-backup/runtime';
import { indexPacks } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { followUpCorrupt, type TargetRead } from '@fleet-backup/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../support/cli.ts';

const BIN = fileURLToPath(new URL('../../services/launcher/bin/fleet-backup.js', import.meta.url));

import {
  blobsOnTarget,
  createFleet,
  type Fleet,
  missingReferencedBlobs,
  packsOnTarget,
  targetOf,
} from './fleet.ts';

const services = await serviceUrls();
const HOST = 'packs-01';
const DAY = 86_400_000;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Packs through their whole life on a real fs target: small files go up as one pack and a large one
 * as its own object; gc deletes a dead pack, repacks a mostly dead one (and a restore, with and
 * without Postgres, still gets every byte), and a repack killed at random points converges and
 * loses nothing.
 */
describe.skipIf(!services)('packs: written, collected, repacked', () => {
  let fleet: Fleet;
  const files = new Map<string, Buffer>();

  async function writeSmall(dir: string, n: number, label: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < n; i++) {
      const bytes = Buffer.concat([Buffer.from(`${label} ${i}\n`), randomBytes(1024 + (i % 7) * 512)]);
      files.set(path.join(dir, `f${i}.txt`), bytes);
      await writeFile(path.join(dir, `f${i}.txt`), bytes);
    }
  }

  const manual = (paths: string[], purpose: string) =>
    fleet.backup({ host: HOST, kind: 'manual', paths, purpose, retention: 'days_1' });

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-packs', {
      hosts: [HOST],
      start: '2026-03-01T02:00:00Z',
      lifecycle: { blobGraceHours: 0 },
    });
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('sends a backup of many small files and a large file cut in chunks as one pack', async () => {
    const dir = path.join(fleet.sourceDir(HOST), 'one');
    await writeSmall(dir, 300, 'one');
    const large = randomBytes(700 * 1024);
    await writeFile(path.join(dir, 'large.bin'), large);
    await manual([dir], 'packs');
    const packs = await packsOnTarget(fleet);
    expect(packs.size).toBe(1);
    const places = await indexPacks(targetOf(fleet));
    const chunks = await fleet.iso.pool.query(
      'SELECT chunk_sha256 AS sha FROM blob_chunks WHERE blob_sha256 = $1',
      [sha(large)],
    );
    expect(chunks.rows.length).toBeGreaterThanOrEqual(1);
    expect(places.size).toBe(300 + chunks.rows.length);
    for (const { sha: chunk } of chunks.rows) expect(places.has(chunk)).toBe(true);
    expect([...(await blobsOnTarget(fleet))].filter((s) => !places.has(s))).toEqual([]);
    const recorded = await fleet.iso.pool.query(
      'SELECT count(*)::int AS n FROM target_blobs WHERE target = $1 AND pack IS NOT NULL',
      ['second'],
    );
    expect(recorded.rows[0].n).toBe(300 + chunks.rows.length);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
  });

  it('reads a copy again when the blobs its read found bad were healed before it was marked corrupt', async () => {
    // The race: a repair (from another copy's read) heals the blob and looks for corrupt copies to
    // read again just before this read marks its copy corrupt. Nothing would come back to it.
    const { id } = (
      await fleet.iso.pool.query('SELECT id FROM backups WHERE host = $1 ORDER BY created_at LIMIT 1', [HOST])
    ).rows[0];
    const blob = (
      await fleet.iso.pool.query('SELECT sha256, size FROM target_blobs WHERE pack IS NOT NULL LIMIT 1')
    ).rows[0];
    await fleet.iso.pool.query(
      "UPDATE backup_copies SET status = 'corrupt' WHERE backup_id = $1 AND target = 'second'",
      [id],
    );
    const read = {
      bad: [
        {
          blob: { sha256: blob.sha256, size: Number(blob.size) },
          problem: 'blob content differs',
          paths: [],
        },
      ],
    };
    await followUpCorrupt(
      fleet.rt,
      { backupId: id, host: HOST, target: 'second' },
      read as unknown as TargetRead,
      false,
    );
    await waitFor(
      async () =>
        (
          await fleet.iso.pool.query(
            "SELECT status FROM backup_copies WHERE backup_id = $1 AND target = 'second'",
            [id],
          )
        ).rows[0].status === 'verified',
      { timeoutMs: 30_000, what: 'the copy to be read again and verified' },
    );
  });

  it('deletes a pack once no backup references any of its blobs', async () => {
    const before = await packsOnTarget(fleet);
    fleet.clock.advance(2 * DAY);
    await expireDue(fleet);
    const report = await runGc(fleet.rt);
    expect(report.targets[0]?.packs).toMatchObject({ deleted: 1 });
    const after = await packsOnTarget(fleet);
    expect([...before].filter((p) => after.has(p))).toEqual([]);
    expect((await blobsOnTarget(fleet)).size).toBe(0);
  });

  it('leaves alone a pack of tiny blobs all live: its own index is not dead bytes', async () => {
    // Three 20-byte files make a pack whose index is most of its size. Counted against the whole
    // object it looked 10% live, so every gc repacked it into another pack just like it.
    const dir = path.join(fleet.sourceDir(HOST), 'tiny');
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < 3; i++) await writeFile(path.join(dir, `t${i}.txt`), `tiny file number ${i}\n`);
    await manual([dir], 'tiny files');
    const before = await packsOnTarget(fleet);
    expect(before.size).toBe(1);
    for (let i = 0; i < 2; i++) {
      const report = await runGc(fleet.rt);
      expect(report.targets[0]?.packs).toMatchObject({ repacked: 0, deleted: 0 });
    }
    expect(await packsOnTarget(fleet)).toEqual(before);
    fleet.clock.advance(2 * DAY);
    await expireDue(fleet);
    await runGc(fleet.rt);
    expect((await packsOnTarget(fleet)).size).toBe(0);
  });

  it('repacks a pack mostly dead: the live blobs move, the old pack goes, restores still work', async () => {
    const all = path.join(fleet.sourceDir(HOST), 'all');
    await writeSmall(all, 200, 'all');
    const allId = await manual([all], 'all of them');
    // A later backup holds 20 of the same files: the same blobs, in the first backup's pack.
    const some = path.join(fleet.sourceDir(HOST), 'some');
    await mkdir(some, { recursive: true });
    for (let i = 0; i < 20; i++)
      await writeFile(path.join(some, `f${i}.txt`), files.get(path.join(all, `f${i}.txt`))!);
    fleet.clock.advance(DAY / 2);
    const someId = await manual([some], 'a few');
    const [oldPack] = await packsOnTarget(fleet);
    fleet.clock.advance(DAY / 2 + 1000); // the first has expired (days_1), the second not yet
    await expireDue(fleet);
    const report = await runGc(fleet.rt);
    expect(report.targets[0]?.packs).toMatchObject({ repacked: 1, deleted: 1 });
    expect(report.targets[0]?.errors).toEqual([]);
    const packs = await packsOnTarget(fleet);
    expect(packs.has(oldPack!)).toBe(false);
    expect(packs.size).toBe(1);
    expect((await indexPacks(targetOf(fleet))).size).toBe(20);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
    await expectRestores(fleet, someId, some);
    expect(allId).not.toBe(someId);
  }, 60_000);

  it('converges when gc is killed at random points of its repacks, and loses nothing', async () => {
    let keepId = '';
    let keep = '';
    for (let round = 0; round < 4; round++) {
      // Each round leaves one pack 10% live to repack: 400 files, 40 of them kept by a later backup.
      const dir = path.join(fleet.sourceDir(HOST), `kill-${round}`);
      await writeSmall(dir, 400, `kill ${round}`);
      keep = path.join(fleet.sourceDir(HOST), `keep-${round}`);
      await mkdir(keep, { recursive: true });
      for (let i = 0; i < 40; i++)
        await writeFile(path.join(keep, `f${i}.txt`), files.get(path.join(dir, `f${i}.txt`))!);
      fleet.clock.advance(DAY);
      await manual([dir], `to expire ${round}`);
      fleet.clock.advance(DAY / 2);
      keepId = await manual([keep], `to keep ${round}`);
      fleet.clock.advance(DAY / 2 + 1000);
      await expireDue(fleet);
      await killedGc(fleet.env, 700 + Math.floor(Math.random() * 2500));
      expect(await missingReferencedBlobs(fleet)).toEqual([]);
    }
    // The killed runs kept the real clock: what they released waits out its grace period from then.
    fleet.clock.advance(Date.now() - fleet.clock.now().getTime() + DAY);
    await runGc(fleet.rt, { scan: true });
    await runGc(fleet.rt);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
    // Converged: the packs on the target are exactly those the catalog points at.
    const recorded = await fleet.iso.pool.query(
      'SELECT DISTINCT pack FROM target_blobs WHERE pack IS NOT NULL',
    );
    expect(new Set(recorded.rows.map((r) => r.pack))).toEqual(await packsOnTarget(fleet));
    await expectRestores(fleet, keepId, keep);
  }, 300_000);

  it('restores from the bucket alone past a pack whose index rotted, naming it', async () => {
    const before = await packsOnTarget(fleet);
    const dir = path.join(fleet.sourceDir(HOST), 'past-rot');
    await writeSmall(dir, 20, 'past rot');
    fleet.clock.advance(DAY);
    const id = await manual([dir], 'past a rotten pack');
    // A pack this backup does not use, its index damaged: every bucket-only restore used to fail.
    // The first in key order, so it is among the first indexes read, before the scan can stop.
    const rotten = [...before].sort()[0]!;
    const file = path.join(fleet.targetDir, 'packs', rotten.slice(0, 2), rotten);
    const bytes = await readFile(file);
    bytes[bytes.length - 20]! ^= 0xff;
    await writeFile(file, bytes);
    const key = (await fleet.iso.pool.query('SELECT key FROM backups WHERE id = $1', [id])).rows[0].key;
    const to = path.join(fleet.iso.dir, 'restore-past-rot');
    const run = await runCli(
      ['restore', '--target', 'second', '--host', HOST, '--backup', key, '--to', to, '--json'],
      fleet.env,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`warning: pack ${rotten} on second is skipped`);
    for (let i = 0; i < 20; i++) {
      const f = path.join(dir, `f${i}.txt`);
      expect((await readFile(path.join(to, f.slice(1)))).equals(await readFile(f))).toBe(true);
    }
  });
});

/** Runs expiry and waits until every backup it removes is gone from every copy (then gc may collect). */
async function expireDue(fleet: Fleet): Promise<void> {
  await runExpire(fleet.rt);
  await waitFor(
    async () =>
      (
        await fleet.iso.pool.query(
          "SELECT count(*)::int AS n FROM backups WHERE lifecycle IN ('expiring', 'retiring')",
        )
      ).rows[0].n === 0,
    { timeoutMs: 30_000, what: 'expired backups to be removed from every copy' },
  );
}

/** Restores a backup through the catalog and from the bucket alone, and compares every file. */
async function expectRestores(fleet: Fleet, id: string, source: string): Promise<void> {
  const key = (await fleet.iso.pool.query('SELECT key FROM backups WHERE id = $1', [id])).rows[0].key;
  for (const [label, args] of [
    ['catalog', [id, '--from', 'second']],
    ['bucket', ['--target', 'second', '--host', HOST, '--backup', key]],
  ] as const) {
    const to = path.join(fleet.iso.dir, `restore-${label}-${key}`);
    const run = await runCli(['restore', ...args, '--to', to, '--json'], fleet.env);
    expect(run.code, run.stderr).toBe(0);
    for (let i = 0; i < 20; i++) {
      const f = path.join(source, `f${i}.txt`);
      expect((await readFile(path.join(to, f.slice(1)))).equals(await readFile(f)), `${label} ${f}`).toBe(
        true,
      );
    }
  }
}

/** Runs `fleet-backup gc` as its own process and SIGKILLs it after `ms`, wherever it is. */
async function killedGc(env: Record<string, string>, ms: number): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'gc', '--json'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}
