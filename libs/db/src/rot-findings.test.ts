import { systemClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NewRotFinding, RotFindings } from './rot-findings.ts';

const services = await serviceUrls();

describe.skipIf(!services)('RotFindings', () => {
  let env: Isolated;
  let findings: RotFindings;
  beforeAll(async () => {
    env = await isolate(services!, 'rot-findings');
    findings = new RotFindings(env.pool, systemClock);
  });
  afterAll(() => env?.cleanup());

  const open = async (copy: string, object: string) =>
    (
      await env.pool.query(
        'SELECT host, found_by FROM rot_findings WHERE copy = $1 AND object = $2 AND healed_at IS NULL ORDER BY host',
        [copy, object],
      )
    ).rows;
  const finding = (over: Partial<NewRotFinding>): NewRotFinding => ({
    copy: 's3',
    host: 'h1',
    backupId: null,
    object: 'blobs/sha256/aa/x',
    problem: 'blob content differs',
    foundBy: 'verify',
    ...over,
  });

  it('records one open finding per object, however many find it at once', async () => {
    // Two repairs finding the same source bad at the same moment recorded it twice.
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          findings.record(finding({ host: `h${i % 3}`, foundBy: i % 2 ? 'repair' : 'verify' })),
        ),
      );
      expect(await open('s3', 'blobs/sha256/aa/x')).toHaveLength(1);
      await findings.healed('s3', 'h1', 'blobs/sha256/aa/x', 'second');
    }
    await findings.record(finding({ foundBy: 'recheck' }));
    expect(await open('s3', 'blobs/sha256/aa/x')).toEqual([{ host: 'h1', found_by: 'recheck' }]);
  });

  it('keeps a local object per host: the same stored path on two hosts is two pieces of rot', async () => {
    const object = '20260501/etc/app.conf';
    await Promise.all(
      ['h1', 'h2', 'h1'].map((host) => findings.record(finding({ copy: 'local', host, object }))),
    );
    expect((await open('local', object)).map((r) => r.host)).toEqual(['h1', 'h2']);
  });
});
