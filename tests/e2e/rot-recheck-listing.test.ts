import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import { ManualClock } from '@fleet-backup/core';
import { openRuntime, type Runtime } from '@fleet-backup/runtime';
import { listingKey } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { recheckTarget } from '@fleet-backup/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoleProcess } from '../support/cli.ts';
import { copyStates, flipByte, rotSource, show, waitVerified } from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'rot-listing-host';
const KEY = `rotl:${randomBytes(32).toString('base64')}`;
const DAY = 86_400_000;
const WINDOW = 30;

/**
 * A listing segment (the part of a manifest that lists a backup's files) that rots on a target
 * after its backup verified: only the rolling re-read of the copy's manifest reads it. It is
 * found within the window, the copy goes corrupt, and the repair puts the segment back.
 */
describe.skipIf(!services)('the rolling re-read finds a rotten listing segment, and it is healed', () => {
  let stack: Stack;
  let worker: RoleProcess;
  let base: string | undefined;
  let rt: Runtime;
  const clock = new ManualClock(new Date());

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'fbt-rot-listing-'));
    const source = await rotSource(base, 'listing');
    stack = await createStack(services!, 'rot-listing', {
      hosts: { [HOST]: { sources: [{ path: source }] } },
    });
    worker = await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST], { ENCRYPTION_KEY: KEY });
    rt = await openRuntime(loadConfig({ ...stack.env, ENCRYPTION_KEY: KEY, LOG_LEVEL: 'warn' }), {
      name: 'rot-listing-test',
      clock,
      log: capturedLog('rot-listing-test').log,
    });
  }, 120_000);
  afterAll(async () => {
    await rt?.close();
    await stack?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it(`finds it within ${WINDOW} simulated days, marks the copy corrupt, and heals it`, async () => {
    const run = await stack.cli(
      ['backup', '--host', HOST, '--kind', 'daily', '--path', path.join(base!, 'src-listing')].concat([
        '--json',
        '--wait',
      ]),
    );
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(run.stdout).id as string;
    const segments = await rt.pool.query<{ sha256: string }>(
      'SELECT sha256 FROM backup_listings WHERE backup_id = $1',
      [id],
    );
    expect(segments.rows).toHaveLength(1);
    const key = listingKey(HOST, segments.rows[0]!.sha256);
    const file = path.join(stack.secondDir, key);
    const good = await readFile(file);
    await flipByte(file);
    // The pool worker stopped: the repair waits, and the damage can be seen.
    await worker.stop();

    let foundOn: number | null = null;
    for (let day = 0; day < WINDOW && foundOn === null; day++) {
      const ctx = { jobId: `second-${day}`, attempt: 1, maxAttempts: 1, log: rt.log };
      await recheckTarget(rt, { target: 'second' }, { ...ctx, signal: AbortSignal.timeout(120_000) });
      const found = await rt.pool.query<{ object: string; found_by: string }>(
        'SELECT object, found_by FROM rot_findings',
      );
      if (found.rows.length) {
        expect(found.rows).toEqual([{ object: key, found_by: 'recheck' }]);
        foundOn = day;
      }
      clock.advance(DAY);
    }
    expect(foundOn).not.toBeNull();
    const hurt = await show(stack, id);
    expect(copyStates(hurt)).toMatchObject({ local: 'verified', second: 'corrupt' });
    expect(hurt.status).toBe('unverified');

    worker = await stack.start(['worker']);
    await waitVerified(stack, id);
    expect(await readFile(file)).toEqual(good);
    const open = await rt.pool.query('SELECT object FROM rot_findings WHERE healed_at IS NULL');
    expect(open.rows).toEqual([]);
  }, 300_000);
});
