import { execFileSync, spawn } from 'node:child_process';
import {
  chmod,
  chown,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { Targets } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
const NOBODY = 65534;
/** A name in the mode of a latin-1 host: not valid UTF-8. */
const RAW_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]);

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

/** Modes 0600/0755/4755, a 0500 and an empty directory, other owners, xattrs, ACLs, symlinks, a raw name. */
async function makeSourceTree(src: string): Promise<void> {
  const at = (p: string) => path.join(src, p);
  for (const d of ['etc', 'bin', 'srv/ro', 'srv/empty', 'srv/acl-dir'])
    await mkdir(at(d), { recursive: true });
  await writeFile(at('etc/secret.conf'), 'password = hunter2\n', { mode: 0o600 });
  await chown(at('etc/secret.conf'), 1234, 5678);
  await writeFile(at('bin/tool'), '#!/bin/sh\necho tool\n');
  await chmod(at('bin/tool'), 0o4755);
  await writeFile(at('srv/ro/inside.txt'), 'read only\n');
  await chmod(at('srv/ro/inside.txt'), 0o444);
  await writeFile(at('srv/nobody.txt'), 'owned by nobody\n');
  await chown(at('srv/nobody.txt'), NOBODY, NOBODY);
  await writeFile(at('srv/xattr.txt'), 'with attributes\n');
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'kept by fleet-backup', at('srv/xattr.txt')]);
  execFileSync('setfacl', ['-m', 'u:1234:rw', at('srv/xattr.txt')]);
  execFileSync('setfacl', ['-d', '-m', 'u:1234:rwx', at('srv/acl-dir')]);
  await writeFile(at('srv/acl-dir/inherited.txt'), 'inherits the default ACL\n');
  await writeFile(Buffer.concat([Buffer.from(`${at('srv')}/`), RAW_NAME]), 'a latin-1 name\n');
  await symlink('ro/inside.txt', at('srv/rel'));
  await symlink('/etc/hostname', at('srv/abs'));
  await symlink('nowhere/x', at('srv/dangling'));
  await symlink(Buffer.from([0x2e, 0x2f, 0xff]), at('srv/raw-link'));
  await chmod(at('srv/empty'), 0o750);
  await chown(at('srv/empty'), 1234, 5678);
  // Microsecond mtimes, leaves first: writing in a directory changes its own mtime.
  let t = 1_700_000_000.123457;
  const stamp = async (p: string | Buffer, link = false) => {
    t += 3600.000111;
    await (link ? lutimes(p, t, t) : utimes(p, t, t));
  };
  for (const f of [
    'etc/secret.conf',
    'bin/tool',
    'srv/ro/inside.txt',
    'srv/nobody.txt',
    'srv/xattr.txt',
    'srv/acl-dir/inherited.txt',
  ])
    await stamp(at(f));
  await stamp(Buffer.concat([Buffer.from(`${at('srv')}/`), RAW_NAME]));
  for (const l of ['srv/rel', 'srv/abs', 'srv/dangling', 'srv/raw-link']) await stamp(at(l), true);
  await chmod(at('srv/ro'), 0o500);
  for (const d of ['srv/ro', 'srv/empty', 'srv/acl-dir', 'srv', 'bin', 'etc', '.']) await stamp(at(d));
}

/** Every entry of `a` is in `b` with the same type, bytes, link target, mode, mtime (µs), xattrs, and owner. */
async function expectSameTree(a: string, b: string, opts: { owners: boolean; uid?: number }): Promise<void> {
  const entries = async (dir: Buffer, rel: Buffer[] = []): Promise<Buffer[][]> => {
    const out: Buffer[][] = [rel];
    if (!(await lstat(dir)).isDirectory()) return out;
    for (const name of await readdir(dir, { encoding: 'buffer' }))
      out.push(...(await entries(Buffer.concat([dir, Buffer.from('/'), name]), [...rel, name])));
    return out;
  };
  const join = (root: string, rel: Buffer[]) =>
    Buffer.concat([Buffer.from(root), ...rel.flatMap((r) => [Buffer.from('/'), r])]);
  const inA = await entries(Buffer.from(a));
  const inB = await entries(Buffer.from(b));
  expect(inB.map((r) => Buffer.concat(r).toString('hex')).sort()).toEqual(
    inA.map((r) => Buffer.concat(r).toString('hex')).sort(),
  );
  for (const rel of inA) {
    const pa = join(a, rel);
    const pb = join(b, rel);
    const what = `${rel.map((r) => r.toString()).join('/') || '.'}`;
    const [sa, sb] = [await lstat(pa, { bigint: true }), await lstat(pb, { bigint: true })];
    expect(sb.mode & 0o170000n, `${what}: type`).toBe(sa.mode & 0o170000n);
    expect(sb.mtimeNs / 1000n, `${what}: mtime to the microsecond`).toBe(sa.mtimeNs / 1000n);
    if (opts.owners) {
      expect([sb.uid, sb.gid], `${what}: owner`).toEqual([sa.uid, sa.gid]);
    } else expect(Number(sb.uid), `${what}: owner`).toBe(opts.uid);
    if (sa.isSymbolicLink()) {
      expect(await readlink(pb, { encoding: 'buffer' }), `${what}: target`).toEqual(
        await readlink(pa, { encoding: 'buffer' }),
      );
      continue;
    }
    expect(sb.mode & 0o7777n, `${what}: mode`).toBe(sa.mode & 0o7777n);
    if (sa.isFile()) expect((await readFile(pb)).equals(await readFile(pa)), `${what}: bytes`).toBe(true);
    const sa8 = pa.toString('utf8');
    if (!Buffer.from(sa8).equals(pa)) continue;
    const xa = (await listAttributes(sa8)).sort();
    expect((await listAttributes(pb.toString('utf8'))).sort(), `${what}: xattr names`).toEqual(xa);
    for (const name of xa)
      expect(await getAttribute(pb.toString('utf8'), name), `${what}: ${name}`).toEqual(
        await getAttribute(sa8, name),
      );
  }
}

/** The CLI as `nobody`, an ordinary user. */
function asNobody(stack: Stack, args: string[]): Promise<CliResult> {
  const bin = path.join(repoRoot, 'services/cli/bin/fleet-backup.js');
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
