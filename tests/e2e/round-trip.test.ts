import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameTree, makeSourceTree } from '../support/attribute-tree.ts';
import { manualBackup } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'round-trip';

/** Names a host may hold that only raw bytes can carry exactly, beside the attribute tree's. */
const ODD_NAMES = [
  Buffer.from('line\nbreak.txt'),
  Buffer.from('tab\there.txt'),
  // One name in two Unicode spellings: composed (NFC) and decomposed (NFD) "é".
  Buffer.from('caf\u00e9.txt'),
  Buffer.from('cafe\u0301.txt'),
  // A 3-byte character repeated up to 249 bytes: with `.bak` the stored name needs a stand-in.
  Buffer.from(`${'€'.repeat(83)}.txt`),
];

/**
 * The whole path, end to end: a real agent captures a tree holding modes (setuid, a 0500
 * directory), other owners, mtimes, xattrs and POSIX ACLs, empty directories, symlinks (relative,
 * absolute, dangling, raw bytes) and names only bytes can carry (not UTF-8, control characters,
 * two Unicode spellings, over-long with the suffix); a restore from every copy, with and without
 * Postgres, gives the same tree back.
 */
describe.skipIf(!services)('capture and restore round trip', () => {
  let stack: Stack;
  let emu: Emulators;
  let base: string;
  let src: string;
  let id: string;
  let key: string;

  beforeAll(async () => {
    emu = await startEmulators('round-trip');
    base = await mkdtemp(path.join(os.tmpdir(), 'fbt-round-trip-'));
    src = path.join(base, 'src');
    stack = await createStack(services!, 'round-trip', {
      hosts: { [HOST]: { sources: [{ path: src }], roots: [src] } },
      targets: emu.targets(),
    });
    // The tree holds a sensitive file (etc/secret.conf): with a key it is stored encrypted.
    stack.env.ENCRYPTION_KEY = `rt1:${randomBytes(32).toString('base64')}`;
    await makeSourceTree(src);
    await mkdir(path.join(src, 'odd'));
    for (const name of ODD_NAMES)
      await writeFile(Buffer.concat([Buffer.from(`${src}/odd/`), name]), `${name.toString('hex')}\n`);
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    const run = await stack.cli(manualBackup(HOST, 'round trip', [src], '--wait', '--json'));
    expect(run.code, run.stderr).toBe(0);
    ({ id, key } = JSON.parse(run.stdout) as { id: string; key: string });
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it.each([
    ['the local copy', () => [id, '--from', 'local']],
    ['the fs target, through the catalog', () => [id, '--from', 'second']],
    ['the fs target alone (no database)', () => ['--target', 'second', '--host', HOST, '--backup', key]],
    ['S3 alone (no database)', () => ['--target', 's3', '--host', HOST, '--backup', key]],
    ['GCS alone (no database)', () => ['--target', 'gcs', '--host', HOST, '--backup', key]],
  ])('restores the same tree from %s', async (label, args) => {
    const to = path.join(stack.iso.dir, `to-${label.replaceAll(/\W+/g, '-')}`);
    const run = await stack.cli(['restore', ...args(), '--to', to, '--json']);
    expect(run.code, run.stderr).toBe(0);
    await expectSameTree(src, path.join(to, src.slice(1)), { owners: true });
  });
});
