import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { runGc } from '@fleet-backup/runtime';
import { blobKey, MANIFEST_FORMAT, writeManifest } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobsOnTarget, createFleet, type Fleet, missingReferencedBlobs, targetOf } from './fleet.ts';

const services = await serviceUrls();
const HOUR = 3_600_000;
const HOST = 'scan-01';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Puts a blob straight onto the target, behind Postgres' back. */
async function putBlob(fleet: Fleet, text: string): Promise<string> {
  const digest = sha(text);
  await targetOf(fleet).put(blobKey(digest), Readable.from([Buffer.from(text)]), {
    sha256: digest,
    size: text.length,
  });
  return digest;
}

/** gc's safety net for when Postgres and the bucket disagree: a scan of the bucket and its manifests. */
describe.skipIf(!services)('blob gc from a bucket listing', () => {
  let fleet: Fleet;
  const grace = (hours: number) => {
    fleet.rt.config.lifecycle.blobGraceHours = hours;
  };

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-gc-scan', {
      hosts: [HOST],
      start: '2026-03-01T02:00:00Z',
    });
    await writeFile(path.join(fleet.sourceDir(HOST), 'live.txt'), 'a live backup\n');
    await fleet.backup({ host: HOST, kind: 'daily', paths: [fleet.sourceDir(HOST)] });
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('deletes a blob only a scan finds, once the grace period has passed since it was first seen', async () => {
    grace(24);
    const orphan = await putBlob(fleet, 'uploaded, never recorded\n');
    expect((await runGc(fleet.rt)).targets[0]).toMatchObject({ waiting: 0, deleted: 0 });
    const first = await runGc(fleet.rt, { scan: true });
    expect(first.targets[0]).toMatchObject({ waiting: 1, deleted: 0 });
    fleet.clock.advance(23 * HOUR);
    expect((await runGc(fleet.rt, { scan: true })).targets[0]).toMatchObject({ waiting: 1, deleted: 0 });
    fleet.clock.advance(HOUR);
    const dry = await runGc(fleet.rt, { scan: true, dryRun: true });
    expect(dry.targets[0]).toMatchObject({ deleted: 1, bytes: 25 });
    expect((await blobsOnTarget(fleet)).has(orphan)).toBe(true);
    expect((await runGc(fleet.rt, { scan: true })).targets[0]).toMatchObject({ deleted: 1, bytes: 25 });
    expect((await blobsOnTarget(fleet)).has(orphan)).toBe(false);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
  });

  it("keeps a blob that another installation's manifest references", async () => {
    grace(0);
    const text = 'theirs\n';
    const foreign = await putBlob(fleet, text);
    await writeManifest(targetOf(fleet), {
      format: MANIFEST_FORMAT,
      host: 'elsewhere',
      kind: 'manual',
      key: '20260101_0000_theirs',
      created: '2026-01-01T00:00:00.000Z',
      files: { 'theirs.bak': { path: 'theirs', size: text.length, sha256: foreign } },
      entry: {},
    });
    const report = await runGc(fleet.rt, { scan: true });
    expect(report.targets[0]).toMatchObject({ foreignManifests: 1, deleted: 0 });
    expect((await blobsOnTarget(fleet)).has(foreign)).toBe(true);
  });

  it('keeps the blobs of a backup Postgres lost (restored from an older dump) while its manifest is there', async () => {
    grace(0);
    await writeFile(path.join(fleet.sourceDir(HOST), 'lost.txt'), 'only in the lost backup\n');
    const id = await fleet.backup({
      host: HOST,
      kind: 'manual',
      paths: [fleet.sourceDir(HOST)],
      purpose: 'lost',
      retention: 'permanent',
      description: 'lost',
    });
    // The restored database knows the blobs (target_blobs) but not the backup that uses them.
    await fleet.iso.pool.query('DELETE FROM backups WHERE id = $1', [id]);
    for (const scan of [false, true]) {
      const report = await runGc(fleet.rt, { scan });
      expect(report.targets[0]?.deleted).toBe(0);
    }
    expect((await blobsOnTarget(fleet)).has(sha('only in the lost backup\n'))).toBe(true);
    expect(await missingReferencedBlobs(fleet)).toEqual([]);
  });

  it('deletes nothing on a target with a manifest it cannot read, and says which', async () => {
    grace(0);
    const orphan = await putBlob(fleet, 'would be deleted\n');
    const bad = 'hosts/broken/20260101_0000_bad/manifest.json';
    await targetOf(fleet).put(bad, Readable.from([Buffer.from('{not json')]), {
      sha256: sha('{not json'),
      size: 9,
    });
    const report = await runGc(fleet.rt, { scan: true });
    expect(report.targets[0]?.deleted).toBe(0);
    expect(report.targets[0]?.errors[0]).toContain(`manifest ${bad} on target second cannot be read`);
    expect((await blobsOnTarget(fleet)).has(orphan)).toBe(true);
    await targetOf(fleet).delete(bad);
    expect((await runGc(fleet.rt, { scan: true })).targets[0]).toMatchObject({ deleted: 1, errors: [] });
  });
});
