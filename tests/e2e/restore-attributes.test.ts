import { spawn } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { Targets } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameTree, makeSourceTree, NOBODY } from '../support/attribute-tree.ts';
import { type CliResult, repoRoot } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import {
  type Captured,
  captureTree,
  loadAccounts,
  type Published,
  publishBackup,
} from '../support/restore-fixture.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'attrs-host';

/**
 * Restores bring back what was there: modes (setuid, a 0500 directory), owners (by name first),
 * mtimes to the microsecond, xattrs and POSIX ACLs, empty directories, symlinks with their exact
 * targets, and names that are not UTF-8, from the local copy, from an fs target through the
 * catalog, and from the fs target and S3 with no database. The backup is published by a
 * fixture that records the tree as the capture does.
 */
describe.skipIf(!services)('restore brings back what was there', () => {
  let stack: Stack;
  let emu: Emulators;
  let src: string;
  let captured: Captured;
  let backup: Published;

  beforeAll(async () => {
    emu = await startEmulators('restore-attrs');
    stack = await createStack(services!, 'restore-attrs', {
      targets: emu.targets().filter((t) => t.name === 's3'),
    });
    src = path.join(stack.iso.dir, 'src');
    await makeSourceTree(src);
    await loadAccounts();
    captured = await captureTree(src);
    // The backed-up host knew `nobody` as 4242: a restore maps the name back (as tar does).
    const nobodyFile = captured.files.find((f) => f.row.path.endsWith('srv/nobody.txt'))!;
    nobodyFile.row.attrs = { ...nobodyFile.row.attrs!, uid: 4242 };
    // A name this machine does not know: the recorded number is used.
    const secret = captured.files.find((f) => f.row.path.endsWith('etc/secret.conf'))!;
    secret.row.attrs = { ...secret.row.attrs!, owner: 'fbt-no-such-user', group: 'fbt-no-such-group' };
    const targets = new Targets(loadConfig(stack.env).targets);
    backup = await publishBackup(stack.iso.pool, {
      host: HOST,
      backupRoot: stack.backupRoot,
      targets: [targets.get('second'), targets.get('s3')],
      captured,
      description: 'attributes',
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  it.each([
    ['the local copy', ['--from', 'local']],
    ['an fs target, through the catalog', ['--from', 'second']],
    ['an fs target alone (no database)', ['--target', 'second']],
    ['S3 alone (no database)', ['--target', 's3']],
  ])('from %s', async (_, how) => {
    const to = path.join(stack.iso.dir, `to-${how.join('-')}`);
    const args =
      how[0] === '--target' ? ['--host', HOST, '--backup', backup.key, ...how] : [backup.id, ...how];
    const run = await stack.cli(['restore', ...args, '--to', to, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ files: captured.files.length, symlinks: 4, notes: [] });
    await expectSameTree(src, path.join(to, src.slice(1)), { owners: true });
  });

  it('--no-owner leaves everything owned by the user restoring, the rest as it was', async () => {
    const to = path.join(stack.iso.dir, 'to-no-owner');
    const run = await stack.cli(['restore', backup.id, '--to', to, '--from', 'local', '--no-owner']);
    expect(run.code, run.stderr).toBe(0);
    await expectSameTree(src, path.join(to, src.slice(1)), { owners: false, uid: 0 });
  });

  describe('as an ordinary user', () => {
    let to: string;
    beforeAll(async () => {
      // The ordinary user needs to read the config and the local copy, and to write --to.
      await chmod(stack.iso.dir, 0o755);
      to = path.join(stack.iso.dir, 'to-nobody');
      await mkdir(to);
      await chown(to, NOBODY, NOBODY);
    });

    it('refuses to start without --no-owner, naming it, and writes nothing', async () => {
      const run = await asNobody(stack, ['restore', backup.id, '--to', to, '--from', 'local']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/cannot give .* its owner .*only root may; .*--no-owner/);
      expect(await readdir(to)).toEqual([]);
    });

    it('restores with --no-owner: modes, times, xattrs and ACLs, owned by that user', async () => {
      const run = await asNobody(stack, ['restore', backup.id, '--to', to, '--from', 'local', '--no-owner']);
      expect(run.code, run.stderr).toBe(0);
      await expectSameTree(src, path.join(to, src.slice(1)), { owners: false, uid: NOBODY });
    });
  });

  it('a backup taken before attributes were recorded restores as before: plain 0600 files', async () => {
    const plain: Captured = {
      files: captured.files.slice(0, 2).map((f) => ({ ...f, row: { ...f.row, attrs: null } })),
      nodes: [],
    };
    const old = await publishBackup(stack.iso.pool, {
      host: HOST,
      backupRoot: stack.backupRoot,
      targets: [],
      captured: plain,
      description: 'before attributes',
    });
    const to = path.join(stack.iso.dir, 'to-plain');
    const run = await stack.cli(['restore', old.id, '--to', to, '--from', 'local']);
    expect(run.code, run.stderr).toBe(0);
    for (const f of plain.files) {
      const st = await lstat(path.join(to, f.row.path));
      expect(st.mode & 0o7777).toBe(0o600);
      expect(await readFile(path.join(to, f.row.path))).toEqual(f.bytes);
    }
  });
});

/** The CLI as `nobody`, an ordinary user. */
function asNobody(stack: Stack, args: string[]): Promise<CliResult> {
  const bin = path.join(repoRoot, 'services/launcher/bin/fleet-backup.js');
  return new Promise((resolve) => {
    const child = spawn(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, bin, ...args],
      { env: { ...process.env, ...stack.env }, stdio: 'pipe' },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
