import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import {
  copyPaths,
  copyStates,
  fileOf,
  flipByte,
  flipInManifestEntry,
  rotSource,
  type ShownBackup,
  show,
  waitVerified,
} from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'rot-verify-host';
const KEY = `rot1:${randomBytes(32).toString('base64')}`;

interface Outcome {
  backupId: string;
  key: string;
  copy: string;
  result: string;
  problems: { path: string; problem: string }[];
  healed: { path: string; from: string }[];
  note: string | null;
}

describe.skipIf(!services)('fleet-backup verify: rot after verification is found, marked and healed', () => {
  let stack: Stack;
  let emu: Emulators;

  const backup = async (label: string): Promise<{ shown: ShownBackup; source: string }> => {
    const source = await rotSource(stack.iso.dir, label);
    const run = await stack.cli(manualBackup(HOST, label, [source], '--json', '--wait'));
    expect(run.code, run.stderr).toBe(0);
    return { shown: await show(stack, JSON.parse(run.stdout).id), source };
  };
  const verify = async (...args: string[]) => {
    const run = await stack.cli(['verify', ...args, '--json', '--timeout', '120']);
    return { run, outcomes: JSON.parse(run.stdout || '[]') as Outcome[] };
  };
  const byCopy = (outcomes: Outcome[]) => Object.fromEntries(outcomes.map((o) => [o.copy, o]));

  beforeAll(async () => {
    emu = await startEmulators('rotverify');
    stack = await createStack(services!, 'rot-verify', { targets: emu.targets() });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST], { ENCRYPTION_KEY: KEY });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  // Its waits (verify's --timeout, waitVerified) are longer than the default test timeout: a slow
  // moment fails with what was awaited, not a bare timeout.
  it('finds a byte flipped after verified in every copy kind, takes verified away, heals each, and verifies again', async () => {
    const { shown, source } = await backup('after');
    expect(shown.status).toBe('verified');
    expect(fileOf(shown, 'server.key').encrypted).toBeDefined();
    const at = await copyPaths(stack, emu, shown);
    // One flip per copy, each in a file whose bytes another copy still holds good.
    await flipByte(at.local('a.txt'));
    await flipByte(at.local('server.key')); // the encrypted local file (ciphertext)
    await flipByte(at.s3('b.txt'));
    await flipByte(at.gcs('c.txt'));
    await flipByte(at.second('server.key'));
    // The pool worker reads the target copies (verify-copy jobs): this process holds no credential.
    const { run, outcomes } = await verify(shown.id);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/4 of 4 copies read bad or could not be read/);
    const o = byCopy(outcomes);
    expect(o.s3).toMatchObject({ result: 'corrupt', note: 'a repair from a good copy is queued' });
    expect(o.s3!.problems).toEqual([
      { path: fileOf(shown, 'b.txt').path, problem: expect.stringMatching(/^blob content differs/) },
    ]);
    expect(o.gcs!.result).toBe('corrupt');
    expect(o.gcs!.problems[0]!.path).toBe(fileOf(shown, 'c.txt').path);
    expect(o.second!.result).toBe('corrupt');
    expect(o.second!.problems[0]!.path).toBe(fileOf(shown, 'server.key').path);
    // The agent read the local copy, found both files, and fetched them again from a target.
    expect(o.local!.result).toBe('healed');
    expect(o.local!.problems.map((p) => p.path).sort()).toEqual(
      [fileOf(shown, 'a.txt').path, fileOf(shown, 'server.key').path].sort(),
    );
    expect(o.local!.healed.map((h) => h.path).sort()).toEqual(o.local!.problems.map((p) => p.path).sort());

    // The healed local files are the source's bytes again (the encrypted one its ciphertext).
    expect(await readFile(at.local('a.txt'))).toEqual(await readFile(path.join(source, 'a.txt')));

    // The repairs verify queued run on the pool: every copy verified again.
    const healed = await waitVerified(stack, shown.id);
    expect(healed.compliance.ok).toBe(true);
    const again = await verify(shown.id);
    expect(again.run.code, again.run.stderr).toBe(0);
    expect(again.outcomes.map((x) => [x.copy, x.result]).sort()).toEqual(
      [
        ['gcs', 'verified'],
        ['local', 'verified'],
        ['s3', 'verified'],
        ['second', 'verified'],
      ].sort(),
    );
    const report = JSON.parse((await stack.cli(['report', '--json'])).stdout);
    const mine = report.rot.recent.filter((f: { backupId: string }) => f.backupId === shown.id);
    expect(mine).toHaveLength(5);
    expect(
      mine.every((f: { healedAt: string | null; foundBy: string }) => f.healedAt && f.foundBy === 'cli'),
    ).toBe(true);
  }, 240_000);

  it('covers the whole manifest: a flipped letter in the seed entry of an fs manifest is corruption, and is rewritten', async () => {
    const { shown } = await backup('manifest');
    await flipInManifestEntry((await copyPaths(stack, emu, shown)).secondManifest());
    const { run, outcomes } = await verify(shown.id, '--target', 'second');
    expect(run.code).toBe(1);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ copy: 'second', result: 'corrupt' });
    expect(outcomes[0]!.problems[0]!.problem).toMatch(
      /^manifest bytes differ from those written \(sha256 [0-9a-f]{64}, recorded [0-9a-f]{64}\)$/,
    );
    const healed = await waitVerified(stack, shown.id);
    expect(copyStates(healed).second).toBe('verified');
    expect((await verify(shown.id, '--target', 'second')).run.code).toBe(0);
  });

  it('counts the manifest in the bytes read back (egress), beside the blobs', async () => {
    const { shown } = await backup('egress');
    const readSoFar = async () =>
      Number(
        (
          await stack.iso.pool.query(
            "SELECT COALESCE(sum(bytes), 0) AS n FROM target_reads WHERE target = 'second'",
          )
        ).rows[0].n,
      );
    const before = await readSoFar();
    const { run, outcomes } = await verify(shown.id, '--target', 'second');
    expect(run.code, run.stderr).toBe(0);
    const manifestBytes = (await readFile((await copyPaths(stack, emu, shown)).secondManifest())).length;
    // The manifest's listing segments are read whole too.
    const segments = await stack.iso.pool.query(
      `SELECT COALESCE(sum(octet_length(s.bytes)), 0)::int AS n FROM listing_segments s
       WHERE s.sha256 IN (SELECT sha256 FROM backup_listings WHERE backup_id = $1)`,
      [shown.id],
    );
    expect(segments.rows[0].n).toBeGreaterThan(0);
    const second = (await show(stack, shown.id)).copies.find((c) => c.target === 'second');
    const checkedBytes = (second?.detail as { checkedBytes?: number } | undefined)?.checkedBytes ?? 0;
    expect(outcomes[0]).toMatchObject({ copy: 'second', result: 'verified' });
    expect(checkedBytes).toBeGreaterThan(0);
    // Every blob of the copy, read in full, and its manifest: what the target was asked for.
    expect((await readSoFar()) - before).toBe(checkedBytes + manifestBytes + segments.rows[0].n);
  });

  it('reads a whole host, takes a key with --host, and answers 2 and 3 for bad arguments', async () => {
    const { shown } = await backup('host');
    const all = await verify('--host', HOST);
    expect(all.run.code, all.run.stderr).toBe(0);
    expect(new Set(all.outcomes.map((x) => x.key))).toContain(shown.key);
    expect(all.outcomes.every((x) => x.result === 'verified')).toBe(true);
    const byKey = await verify(shown.key, '--host', HOST, '--target', 'local');
    expect(byKey.run.code, byKey.run.stderr).toBe(0);
    expect(byKey.outcomes).toEqual([
      expect.objectContaining({ backupId: shown.id, copy: 'local', result: 'verified' }),
    ]);
    const text = await stack.cli(['verify', shown.id, '--target', 's3']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`${HOST}/${shown.key} +s3 +verified`));
    expect((await stack.cli(['verify'])).code).toBe(2);
    expect((await stack.cli(['verify', shown.id, '--target', 'nowhere'])).code).toBe(2);
    expect((await stack.cli(['verify', '--host', 'no-such-host'])).code).toBe(3);
    expect((await stack.cli(['verify', '20990101', '--host', HOST])).code).toBe(3);
  });
});
