import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { holdBlobReferences, withTransaction } from '@fleet-backup/db';
import { runExpire, runGc } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobsOnTarget, createFleet, type Fleet, missingReferencedBlobs } from './fleet.ts';

const services = await serviceUrls();
const DAY = 86_400_000;
const HOSTS = ['gc-a', 'gc-b'];
const ROUNDS = 14;

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Blob gc with no grace period, racing backups that reuse the very blobs expiry just released:
 * the worst case for "never delete a blob a live manifest references".
 */
describe.skipIf(!services)('blob gc under concurrency', () => {
  let fleet: Fleet;

  async function write(host: string, files: Record<string, string>): Promise<void> {
    for (const [name, text] of Object.entries(files))
      await writeFile(path.join(fleet.sourceDir(host), name), text);
  }

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-gc', {
      hosts: HOSTS,
      start: '2026-03-01T02:00:00Z',
      lifecycle: { blobGraceHours: 0 },
    });
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('waits while a snapshot commits a reference to a released blob, then keeps it', async () => {
    const text = 'released, then reused\n';
    await write('gc-a', { 'a.txt': text });
    const a = await fleet.backup({
      host: 'gc-a',
      kind: 'manual',
      paths: [fleet.sourceDir('gc-a')],
      purpose: 'p',
      retention: 'days_1',
    });
    fleet.clock.advance(2 * DAY);
    await runExpire(fleet.rt, { waitMs: 10_000 });
    expect(
      (await fleet.iso.pool.query('SELECT lifecycle FROM backups WHERE id = $1', [a])).rows[0].lifecycle,
    ).toBe('expired');
    const dry = await runGc(fleet.rt, { dryRun: true });
    expect(dry.targets[0]?.deleted).toBe(1);

    // A new backup's snapshot committing a reference to the same bytes, as saveSnapshot does.
    const { backup: b } = await fleet.rt.backups.create({
      request: {
        host: 'gc-a',
        kind: 'manual',
        paths: [fleet.sourceDir('gc-a')],
        purpose: 'p',
        retention: 'days_1',
      },
      targets: fleet.rt.targets.refs(),
      dailyRetentionDays: 30,
    });
    let release!: () => void;
    let referenced!: () => void;
    const holding = new Promise<void>((resolve) => (referenced = resolve));
    const committed = withTransaction(fleet.iso.pool, async (tx) => {
      await holdBlobReferences(tx);
      await tx.query(
        `INSERT INTO backup_files (backup_id, path, stored_path, class, size, sha256) VALUES ($1, 'a.txt', 'a.txt.bak', 'general', $2, $3)`,
        [b.id, text.length, sha(text)],
      );
      referenced();
      await new Promise<void>((resolve) => (release = resolve));
    });
    // gc must start once the reference is being committed; one that started first may delete the
    // blob, which is right (the snapshot's replicate uploads it again) but not what this test is about.
    await holding;
    let finished = false;
    const gc = runGc(fleet.rt).then((r) => {
      finished = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 700));
    expect(finished).toBe(false);
    expect((await blobsOnTarget(fleet)).has(sha(text))).toBe(true);
    release();
    await committed;
    const report = await gc;
    expect(report.targets[0]).toMatchObject({ deleted: 0 });
    expect((await blobsOnTarget(fleet)).has(sha(text))).toBe(true);
    await fleet.iso.pool.query('DELETE FROM backups WHERE id = $1', [b.id]);
  });

  it('never deletes a blob a live manifest references while backups run and gc repeats', async () => {
    const contents = Array.from({ length: 5 }, (_, i) => `shared content ${i}\n`);
    let sweeps = 0;
    let deleted = 0;
    const unverified: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // A day later the previous round's days_1 backups are due: expiry releases their blobs while
      // this round's backups, holding the same contents, are being snapshot and replicated.
      fleet.clock.advance(DAY + 60_000);
      await write('gc-a', { 'one.txt': contents[r % 5]!, 'two.txt': contents[(r + 2) % 5]! });
      await write('gc-b', { 'one.txt': contents[(r + 1) % 5]!, 'two.txt': `only round ${r}\n` });
      let done = false;
      const backups = Promise.all(
        HOSTS.map((host) =>
          fleet.backup({
            host,
            kind: 'manual',
            paths: [fleet.sourceDir(host)],
            purpose: 'churn',
            retention: 'days_1',
            description: `r${r}`,
          }),
        ),
      ).finally(() => {
        done = true;
      });
      const gcLoop = (async () => {
        for (let n = 0; !done || n < 2; n++) {
          const report = await runGc(fleet.rt, { scan: n % 2 === 1 });
          sweeps++;
          deleted += report.targets.reduce((k, t) => k + t.deleted, 0);
        }
      })();
      const [ids] = await Promise.all([backups, gcLoop, runExpire(fleet.rt, { waitMs: 10_000 })]);
      const statuses = await fleet.iso.pool.query(
        'SELECT key, status FROM backups WHERE id = ANY($1::uuid[])',
        [ids],
      );
      for (const row of statuses.rows)
        if (row.status !== 'verified') unverified.push(`${row.key}: ${row.status}`);
      expect(await missingReferencedBlobs(fleet)).toEqual([]);
    }
    await runGc(fleet.rt, { scan: true });
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
    expect(unverified).toEqual([]);
    // The race really ran: many sweeps, and blobs really were deleted along the way.
    expect(sweeps).toBeGreaterThan(ROUNDS * 2);
    expect(deleted).toBeGreaterThan(ROUNDS / 2);
  });
});
