import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostMetadata } from '@fleet-backup/db';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoleProcess, runCli } from '../support/cli.ts';
import { createFleet, exists, type Fleet, manifestOnTarget, metadataKeys, rows } from './fleet.ts';

const services = await serviceUrls();
const HOST = 'crash-01';
const DUE = 24;

/**
 * `fleet-backup expire` killed with SIGKILL while it removes copies: every backup must be either
 * fully kept or marked expiring (and out of backup_metadata.json), and the next run finishes it.
 */
describe.skipIf(!services)('expire survives SIGKILL mid-run', () => {
  let fleet: Fleet;
  let kept: string[] = [];

  /** Each backup as its copies and the metadata export show it. */
  async function states() {
    const listed = Object.values(await hostMetadata(fleet.iso.pool, HOST)).flatMap((s) => Object.keys(s));
    const out = [];
    for (const b of await rows(fleet)) {
      out.push({
        key: b.key,
        lifecycle: b.lifecycle,
        dir: await exists(path.join(fleet.backupRoot(HOST), b.key)),
        manifest: await manifestOnTarget(fleet, HOST, b.key),
        listed: listed.includes(b.key),
      });
    }
    return out;
  }

  beforeAll(async () => {
    fleet = await createFleet(services!, 'lifecycle-crash', { hosts: [HOST], start: '2026-03-01T02:00:00Z' });
    const paths = [fleet.sourceDir(HOST)];
    for (let i = 0; i < DUE; i++) {
      await writeFile(path.join(fleet.sourceDir(HOST), 'data.txt'), `backup ${i}\n`);
      await fleet.backup({
        host: HOST,
        kind: 'manual',
        paths,
        purpose: 'scratch',
        description: `scratch ${i}`,
        retention: 'days_1',
      });
      fleet.clock.advance(60_000);
    }
    await fleet.backup({
      host: HOST,
      kind: 'manual',
      paths,
      purpose: 'keep',
      description: 'keep',
      retention: 'permanent',
    });
    await fleet.backup({ host: HOST, kind: 'daily', paths });
    kept = (await rows(fleet)).filter((r) => r.kind === 'daily' || r.key.endsWith('_keep')).map((r) => r.key);
    expect(kept).toHaveLength(2);
  }, 60_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it('leaves each backup kept or marked after kill -9, and a second run finishes the job', async () => {
    // Agents down: the local copies cannot go, so the killed run is certainly mid-way.
    await fleet.stopAgents();
    const child = new RoleProcess(['expire', '--timeout', '60'], { ...fleet.env, LOG_LEVEL: 'info' });
    await child.waitForLog('"msg":"manifest removed"', 60_000);
    await child.kill();
    expect(child.child.signalCode).toBe('SIGKILL');

    const after = await states();
    const removals = await fleet.iso.pool.query<{ copy: string; removed: boolean }>(
      'SELECT copy, removed_at IS NOT NULL AS removed FROM backup_removals',
    );
    expect(removals.rows.filter((r) => r.copy === 'second' && r.removed).length).toBeGreaterThan(0);
    expect(removals.rows.filter((r) => r.copy === 'local' && r.removed)).toEqual([]);
    for (const s of after) {
      if (kept.includes(s.key)) {
        expect(s).toEqual({ key: s.key, lifecycle: null, dir: true, manifest: true, listed: true });
      } else {
        // Marked before any copy went, and out of the metadata export from that moment.
        expect(s).toMatchObject({ lifecycle: 'expiring', dir: true, listed: false });
      }
    }

    await fleet.startAgents();
    const second = await runCli(['expire', '--json'], fleet.env);
    expect(second.code, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout);
    // Nothing new to mark: the second run only finishes what the first marked (the restarted agent
    // may already have finished some or all, from the jobs the first run queued before it died).
    const actions = new Set(report.backups.map((b: { action: string }) => b.action));
    expect([...actions].filter((a) => a !== 'finish')).toEqual([]);
    expect(report.results.every((r: { lifecycle: string }) => r.lifecycle === 'expired')).toBe(true);
    for (const s of await states()) {
      if (kept.includes(s.key))
        expect(s).toEqual({ key: s.key, lifecycle: null, dir: true, manifest: true, listed: true });
      else
        expect(s).toEqual({ key: s.key, lifecycle: 'expired', dir: false, manifest: false, listed: false });
    }
    expect(await metadataKeys(fleet, HOST)).toEqual([...kept].sort());

    const before = await rows(fleet);
    const third = await runCli(['expire', '--json'], fleet.env);
    expect(JSON.parse(third.stdout).backups).toEqual([]);
    expect(await rows(fleet)).toEqual(before);
  });
});
