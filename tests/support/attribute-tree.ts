import { execFileSync } from 'node:child_process';
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
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { expect } from 'vitest';

/**
 * A source tree holding what a restore must bring back besides the bytes, and the comparison
 * that proves it came back: shared by the restore tests (a fixture publishes the backup) and the
 * round trip through a real agent.
 */

export const NOBODY = 65534;
/** A name in the mode of a latin-1 host: not valid UTF-8. */
export const RAW_NAME = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74]);

/** Modes 0600/0755/4755, a 0500 and an empty directory, other owners, xattrs, ACLs, symlinks, a raw name. */
export async function makeSourceTree(src: string): Promise<void> {
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
export async function expectSameTree(
  a: string,
  b: string,
  opts: { owners: boolean; uid?: number },
): Promise<void> {
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
  const shown = (rows: Buffer[][]) =>
    rows.map((r) => JSON.stringify(r.map((n) => n.toString('latin1')).join('/')));
  const namesA = new Set(shown(inA));
  const namesB = new Set(shown(inB));
  expect({
    missing: [...namesA].filter((n) => !namesB.has(n)),
    extra: [...namesB].filter((n) => !namesA.has(n)),
  }).toEqual({ missing: [], extra: [] });
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
