import { ManualClock } from '@fleet-backup/core';
import { CopyChecks } from '@fleet-backup/db';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropStaleVerdicts, type TargetRead } from './target-copy.ts';

const services = await serviceUrls();
const T0 = new Date('2026-06-01T05:00:00Z');
const sha = (n: number) => n.toString(16).padStart(64, '0');

/**
 * A read that began before a repair put a blob back may see the old bad bytes and report them
 * after the heal. Recorded, that verdict marked good bytes bad and left a finding open with no
 * repair to come (the offsite test, stuck for 60 s). It is dropped; a verdict on a blob nothing
 * found good since the read began stands.
 */
describe.skipIf(!services)('stale verdicts', () => {
  let env: Isolated;
  let clock: ManualClock;
  let checks: CopyChecks;

  beforeAll(async () => {
    env = await isolate(services!, 'stale-verdicts');
    clock = new ManualClock(T0);
    checks = new CopyChecks(env.pool, clock);
  });
  afterAll(() => env?.cleanup());

  it('forgets what a read found bad in a blob healed after it began, and keeps the rest', async () => {
    for (const n of [1, 2])
      await env.pool.query(
        'INSERT INTO target_blobs (target, sha256, size, stored_at) VALUES ($1, $2, 10, $3)',
        ['s3', sha(n), T0],
      );
    const startedAt = clock.now();
    const bad = (n: number) => ({
      blob: { sha256: sha(n), size: 10 },
      problem: 'blob content differs',
      paths: [`f${n}`],
    });
    const manifestProblem = { path: 'hosts/h/k/manifest.json', problem: 'manifest missing' };
    const read = {
      problems: [
        manifestProblem,
        { path: 'f1', problem: 'blob content differs' },
        { path: 'f2', problem: 'blob content differs' },
      ],
      bad: [bad(1), bad(2)],
      manifest: { problems: [manifestProblem], badSegments: [], sha256: null, bytes: 0 },
      startedAt,
    } as unknown as TargetRead;
    // The read is still going when a repair puts blob 1 back and marks it good.
    clock.advance(1000);
    await checks.blobsGood('s3', [sha(1)]);
    await dropStaleVerdicts(checks, 's3', read);
    expect(read.bad.map((b) => b.blob.sha256)).toEqual([sha(2)]);
    expect(read.problems).toEqual([manifestProblem, { path: 'f2', problem: 'blob content differs' }]);
  });

  it('keeps every verdict when the clock did not move (a heal in the same instant is not after the read)', async () => {
    const read = {
      problems: [{ path: 'f1', problem: 'blob content differs' }],
      bad: [{ blob: { sha256: sha(1), size: 10 }, problem: 'blob content differs', paths: ['f1'] }],
      manifest: { problems: [], badSegments: [], sha256: null, bytes: 0 },
      startedAt: clock.now(),
    } as unknown as TargetRead;
    await checks.blobsGood('s3', [sha(1)]);
    await dropStaleVerdicts(checks, 's3', read);
    expect(read.bad).toHaveLength(1);
  });
});
