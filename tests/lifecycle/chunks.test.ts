import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostQueueNames, POOL_QUEUE } from '@fleet-backup/queue';
import { runExpire, runGc } from '@fleet-backup/runtime';
import { blobKey, indexPacks, listAll } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, waitFor } from '../support/cli.ts';
import { flipByte } from '../support/emulators.ts';
import { readBackNow } from '../support/rot.ts';
import { createFleet, type Fleet, missingReferencedBlobs, targetOf } from './fleet.ts';

const services = await serviceUrls();
const HOST = 'chunks-01';
const DAY = 86_400_000;
const MiB = 1 << 20;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Large files offsite as content-defined chunks on a real fs target: a file that changed a little
 * sends little more than what changed; restores through the catalog and from the bucket alone get
 * every byte; gc keeps the chunks a kept backup needs; a flipped byte in a chunk is found by an
 * on-demand verify and never restored.
 */
describe.skipIf(!services)('chunks: large files cut by content', () => {
  let fleet: Fleet;
  let dir: string;
  let big: Buffer;
  const ids: string[] = [];

  const backup = async (purpose: string) => {
    const id = await fleet.backup({ host: HOST, kind: 'manual', paths: [dir], purpose, retention: 'days_1' });
    ids.push(id);
    return id;
  };
  const copyDetail = async (id: string) =>
    (
      await fleet.iso.pool.query(
        "SELECT status FROM backup_copies WHERE backup_id = $1 AND target = 'second'",
        [id],
      )
    ).rows[0] as { status: string };
  const packBytes = async () =>
    Number(
      (
        await fleet.iso.pool.query(
          "SELECT COALESCE(sum(size), 0) AS n FROM target_packs WHERE target = 'second'",
        )
      ).rows[0].n,
    );
  const keyOf = async (id: string) =>
    (await fleet.iso.pool.query('SELECT key FROM backups WHERE id = $1', [id])).rows[0].key as string;

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-chunks', {
      hosts: [HOST],
      start: '2026-03-01T02:00:00Z',
      lifecycle: { blobGraceHours: 0 },
    });
    dir = path.join(fleet.sourceDir(HOST), 'data');
    await mkdir(dir, { recursive: true });
    big = randomBytes(12 * MiB);
    await writeFile(path.join(dir, 'orders.bin'), big);
    await writeFile(path.join(dir, 'small.txt'), 'a small file beside it\n');
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('stores a large file as chunks in packs, never as one object, and restores it', async () => {
    const id = await backup('first');
    expect((await copyDetail(id)).status).toBe('verified');
    const own = [];
    for await (const o of listAll(targetOf(fleet), 'blobs/')) own.push(o.key);
    expect(own).toEqual([]);
    const chunks = await fleet.iso.pool.query(
      'SELECT size FROM blob_chunks WHERE blob_sha256 = $1 ORDER BY seq',
      [sha(big)],
    );
    expect(chunks.rows.length).toBeGreaterThanOrEqual(4);
    expect(chunks.rows.reduce((n, r) => n + Number(r.size), 0)).toBe(big.length);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
    await expectRestores(id);
  });

  it('sends about what changed when the file changes a little', async () => {
    randomBytes(100).copy(big, 5 * MiB);
    await writeFile(path.join(dir, 'orders.bin'), big);
    fleet.clock.advance(DAY / 2);
    const before = await packBytes();
    const id = await backup('changed');
    expect((await copyDetail(id)).status).toBe('verified');
    const sent = (await packBytes()) - before;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(big.length / 2);
    await expectRestores(id);
  });

  it('keeps the chunks a kept backup needs when gc runs after the first expires', async () => {
    fleet.clock.advance(DAY / 2 + 1000);
    await runExpire(fleet.rt);
    await waitFor(
      async () =>
        (await fleet.iso.pool.query("SELECT count(*)::int AS n FROM backups WHERE lifecycle = 'expiring'"))
          .rows[0].n === 0,
      { what: 'the first backup to be removed' },
    );
    await runGc(fleet.rt);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
    await expectRestores(ids[1]!, '-after-gc');
  });

  /** Flips a byte in the middle of the file's `seq`-th chunk where the target stores it; its sha256. */
  async function flipChunk(seq: number): Promise<string> {
    const r = await fleet.iso.pool.query(
      `SELECT bc.chunk_sha256 AS sha, tb.pack, tb.pack_offset AS offset, tb.size FROM blob_chunks bc
       JOIN target_blobs tb ON tb.sha256 = bc.chunk_sha256 AND tb.target = 'second'
       WHERE bc.blob_sha256 = $1 AND bc.seq = $2`,
      [sha(big), seq],
    );
    const { sha: chunk, pack, offset, size } = r.rows[0];
    await flipByte({
      file: path.join(fleet.targetDir, 'packs', pack.slice(0, 2), pack),
      at: Number(offset) + Math.floor(Number(size) / 2),
    });
    return chunk;
  }

  it('finds a byte flipped inside a chunk with an on-demand verify, and never restores it', async () => {
    const id = ids[1]!;
    // No worker or agent: nothing heals the copy before the restore below tries it.
    await fleet.stopAgents();
    await flipChunk(0);
    const found = await readBackNow(fleet.env, id, ['second']);
    expect(found.second).not.toEqual([]);
    expect((await copyDetail(id)).status).toBe('corrupt');
    const to = path.join(fleet.iso.dir, 'restore-rotten');
    const run = await runCli(['restore', id, '--from', 'second', '--to', to], fleet.env);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/bytes hash to [0-9a-f]{64}, expected/);
    const written = await readFile(path.join(to, dir.slice(1), 'orders.bin')).catch(() => null);
    expect(written).toBeNull();
    await fleet.startAgents();
  });

  it('fails a drill on a byte flipped inside a chunk, heals that chunk, fails the next drill, and the rolling re-read finds another', async () => {
    // Verified, and no job left that could read the copy again: a re-read still queued (the
    // verify-copy a repair's follow-up adds) would find the next flip first, heal it, and the drill
    // after it would read good bytes (seen once in CI).
    const queues = [POOL_QUEUE, ...hostQueueNames(HOST)];
    const busy = async () => {
      let n = 0;
      for (const q of queues) {
        const counts = await fleet.rt.queues.queue(q).getJobCounts('wait', 'active', 'prioritized');
        n += Object.values(counts).reduce((a, b) => a + b, 0);
      }
      return n;
    };
    const healed = () =>
      waitFor(async () => (await copyDetail(ids[1]!)).status === 'verified' && (await busy()) === 0, {
        timeoutMs: 60_000,
        what: 'the repair to heal the copy, and its follow-ups to finish',
      });
    const drillFails = async (chunk: string) => {
      const drill = await runCli(['drill', '--host', HOST, '--backup', key, '--from', 'second'], fleet.env);
      expect(drill.code).toBe(1);
      expect(drill.stderr).toMatch(/orders\.bin from copy second: sha256 mismatch/);
      // Recorded as rot found by the drill: in the chunk, or in the file when a repair running
      // meanwhile healed the chunk before the drill read it again to find which one it was.
      const found = await fleet.iso.pool.query(
        "SELECT object FROM rot_findings WHERE backup_id = $1 AND copy = 'second' AND found_by = 'drill'",
        [ids[1]],
      );
      expect(found.rows.map((r) => r.object)).toEqual(
        expect.arrayContaining([expect.stringMatching(new RegExp(`${chunk}|${sha(big)}`))]),
      );
    };
    const key = await keyOf(ids[1]!);
    // The repair the verify above queued has put good bytes back, and the copy verified again.
    await healed();
    await drillFails(await flipChunk(2));
    await healed();
    // The chunk was healed, not the file written as an object of its own: drills would read that
    // in place of the chunks, and pass over rot in them.
    const own = await fleet.iso.pool.query(
      "SELECT 1 FROM target_blobs WHERE target = 'second' AND sha256 = $1",
      [sha(big)],
    );
    expect(own.rowCount).toBe(0);
    await drillFails(await flipChunk(4));
    // Healed before the next flip: the repair reads the whole copy again, and would find it first.
    await healed();

    const chunk = await flipChunk(3);
    fleet.rt.config.recheckWindowDays = 1; // today's slice is everything
    await fleet.rt.queues.add('recheck', { target: 'second' });
    // Found as rot by the re-read (and healed from the local copy soon after, so not waited on).
    await waitFor(
      async () =>
        (
          await fleet.iso.pool.query(
            "SELECT 1 FROM rot_findings WHERE object = $1 AND copy = 'second' AND found_by = 'recheck'",
            [blobKey(chunk)],
          )
        ).rowCount === 1,
      { timeoutMs: 60_000, what: 'the re-read to find the chunk bad' },
    );
  }, 180_000);

  /** Restores the backup through the catalog and from the bucket alone, and compares the large file. */
  async function expectRestores(id: string, label = ''): Promise<void> {
    const key = `${await keyOf(id)}${label}`;
    for (const [label, args] of [
      ['catalog', [id, '--from', 'second']],
      ['bucket', ['--target', 'second', '--host', HOST, '--backup', await keyOf(id)]],
    ] as const) {
      const to = path.join(fleet.iso.dir, `restore-${label}-${key}`);
      const run = await runCli(['restore', ...args, '--to', to, '--json'], fleet.env);
      expect(run.code, run.stderr).toBe(0);
      expect(sha(await readFile(path.join(to, dir.slice(1), 'orders.bin')))).toBe(sha(big));
    }
    expect((await indexPacks(targetOf(fleet))).size).toBeGreaterThan(0);
  }
});
