import { execFileSync } from 'node:child_process';
import { chown, lstat, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { hostMetadataSchema, systemClock } from '@fleet-backup/core';
import { BackupStore } from '@fleet-backup/db';
import { FsTarget, readListedManifest } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { setAttributeSync } from '@napi-rs/xattr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { show } from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'tree-host';
const EMPTY_HOST = 'empty-host';
const NOBODY = 65534;
const RAW_NAME = Buffer.from([0x72, 0x61, 0x77, 0xff, 0x2e, 0x74, 0x78, 0x74]); // raw\xff.txt

describe.skipIf(!services)(
  'capture: what a restore needs, odd names, empty sources, and plan = snapshot',
  () => {
    let stack: Stack;
    /** The `second` target of the stack, read as a restore from the bucket alone reads it. */
    const secondTarget = () => new FsTarget({ name: 'second', root: stack.secondDir });
    let base: string;
    let src: string;
    let emptySrc: string;
    let excludedSrc: string;
    let db: DatabaseSync;
    let store: BackupStore;

    const backup = async (host: string, description: string, paths: string[]) => {
      const run = await stack.cli(manualBackup(host, description, paths, '--wait', '--json'));
      const id = JSON.parse(run.stdout).id as string;
      return { run, view: await show(stack, id) };
    };

    beforeAll(async () => {
      base = await mkdtemp(path.join(os.tmpdir(), 'fb-tree-'));
      src = path.join(base, 'src');
      emptySrc = path.join(base, 'empty-src');
      excludedSrc = path.join(base, 'excluded-src');
      await mkdir(path.join(src, 'etc'), { recursive: true });
      await mkdir(path.join(src, 'empty'), { mode: 0o750 });
      await mkdir(emptySrc);
      await mkdir(path.join(excludedSrc, 'tmp'), { recursive: true });
      await writeFile(path.join(excludedSrc, 'app.log'), 'log\n');
      await writeFile(path.join(excludedSrc, 'tmp', 'x'), 'scratch\n');
      const conf = path.join(src, 'etc', 'app.conf');
      await writeFile(conf, 'port=1\n', { mode: 0o640 });
      await chown(conf, NOBODY, NOBODY);
      setAttributeSync(conf, 'user.origin', 'fleet');
      execFileSync('setfacl', ['-m', 'u:nobody:rw', conf]);
      await symlink('etc/app.conf', path.join(src, 'link'));
      await writeFile(Buffer.concat([Buffer.from(`${src}/`), RAW_NAME]), 'raw bytes name\n');
      // A live WAL database: its -wal and -shm exist while this connection is open.
      db = new DatabaseSync(path.join(src, 'app.db'));
      db.exec("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES ('row');");
      stack = await createStack(services!, 'tree', {
        hosts: {
          [HOST]: { sources: [{ path: src }], roots: [base] },
          [EMPTY_HOST]: {
            sources: [{ path: emptySrc }, { path: excludedSrc, required: ['app.conf'] }],
            roots: [base],
          },
        },
      });
      store = new BackupStore(stack.iso.pool, systemClock);
      await stack.start(['worker']);
      await stack.start(['agent', '--host', HOST]);
      await stack.start(['agent', '--host', EMPTY_HOST]);
    }, 60_000);
    afterAll(async () => {
      db?.close();
      await stack?.stop();
      if (base) await rm(base, { recursive: true, force: true });
    });

    it('records mode, owner, mtime, xattrs and ACLs, every directory and symlink, in the catalog and the manifest', async () => {
      const { run, view } = await backup(HOST, 'attributes', [src]);
      expect(run.code, run.stderr).toBe(0);
      expect(view.status).toBe('verified');
      const rel = src.slice(1);
      const detail = await store.detail(view.id);
      const conf = detail.files.find((f) => f.path === `${rel}/etc/app.conf`);
      const confStat = await lstat(path.join(src, 'etc', 'app.conf'), { bigint: true });
      expect(conf?.attrs).toMatchObject({
        // The ACL mask shows in the group bits: what counts is that the recorded mode is the file's.
        mode: Number(confStat.mode & 0o7777n),
        uid: NOBODY,
        gid: NOBODY,
        owner: 'nobody',
        group: 'nogroup',
        mtimeNs: confStat.mtimeNs.toString(),
      });
      expect(Object.keys(conf?.attrs?.xattrs ?? {}).sort()).toEqual([
        'system.posix_acl_access',
        'user.origin',
      ]);
      expect(detail.nodes.map((n) => [n.path, n.type, n.target])).toEqual([
        [rel, 'dir', null],
        [`${rel}/empty`, 'dir', null],
        [`${rel}/etc`, 'dir', null],
        [`${rel}/link`, 'symlink', 'etc/app.conf'],
      ]);
      expect(detail.nodes[1]?.attrs.mode).toBe(0o750);
      // The manifest on the target carries the same, for a restore from the bucket alone.
      const manifest = await readListedManifest(secondTarget(), HOST, view.key);
      expect(manifest.files[`${rel}/etc/app.conf.config`]?.attrs).toEqual(conf?.attrs);
      expect(manifest.nodes?.[`${rel}/link`]).toMatchObject({ type: 'symlink', target: 'etc/app.conf' });
      expect(manifest.nodes?.[`${rel}/empty`]?.attrs.mode).toBe(0o750);
      // No link is created in the backup directory: a symlink is a record, not a file.
      await expect(lstat(path.join(stack.backupRoot, view.key, rel, 'link'))).rejects.toThrow(/ENOENT/);
    });

    it('stores a name that is not valid UTF-8: \\xHH in the path, the raw bytes in the catalog and manifest', async () => {
      const { view } = await backup(HOST, 'raw name', [src]);
      const rel = `${src.slice(1)}/raw\\xff.txt`;
      const detail = await store.detail(view.id);
      const row = detail.files.find((f) => f.path === rel);
      expect(row?.pathBytes).toEqual(Buffer.concat([Buffer.from(`${src.slice(1)}/`), RAW_NAME]));
      expect(view.skipped.filter((s) => s.path.includes('raw'))).toEqual([]);
      expect(await readFile(path.join(stack.backupRoot, view.key, `${rel}.bak`), 'utf8')).toBe(
        'raw bytes name\n',
      );
      const manifest = await readListedManifest(secondTarget(), HOST, view.key);
      expect(Buffer.from(manifest.files[`${rel}.bak`]?.pathBytes ?? '', 'base64')).toEqual(row?.pathBytes);
      // The seed's file stays as it is: files only, keyed by the escaped path, no attributes or nodes.
      const seed = hostMetadataSchema.parse(
        JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8')),
      );
      const entry = seed.manual[view.key];
      expect(Object.keys(entry?.files ?? {})).toContain(rel);
      expect(Object.keys(entry?.files ?? {}).some((k) => k.endsWith('/empty') || k.endsWith('/link'))).toBe(
        false,
      );
      expect(entry?.files[rel]).toEqual({ size: 15, hash: row?.sha256 });
    });

    it('plan takes and skips exactly what the snapshot takes and skips, the live -wal and -shm included', async () => {
      const planned = await stack.cli(['plan', '--host', HOST, '--json']);
      expect(planned.code, planned.stderr).toBe(0);
      const plan = JSON.parse(planned.stdout) as {
        taken: { path: string }[];
        skipped: { path: string; reason: string }[];
      };
      const { view } = await backup(HOST, 'plan check', [src]);
      expect(plan.taken.map((f) => f.path.slice(1))).toEqual(view.files.map((f) => f.path));
      expect(plan.skipped.map((s) => [s.path, s.reason])).toEqual(
        view.skipped.map((s) => [s.path, s.reason]),
      );
      expect(plan.skipped.map((s) => s.path)).toEqual([`${src}/app.db-shm`, `${src}/app.db-wal`]);
    });

    it('ends an empty source with zero files, and flags a source of excluded files only as incomplete', async () => {
      const empty = await backup(EMPTY_HOST, 'empty', [emptySrc]);
      expect(empty.run.stderr).not.toMatch(/ENOENT/);
      expect(empty.view.status).toBe('verified');
      expect(empty.view.files).toEqual([]);
      const excluded = await backup(EMPTY_HOST, 'only excluded', [excludedSrc]);
      expect(excluded.run.code).toBe(1);
      expect(excluded.view.status).toBe('incomplete');
      expect(excluded.view.files).toEqual([]);
      expect(excluded.view.missing).toEqual([`${excludedSrc}/app.conf`]);
      expect(excluded.view.stages.every((s) => s.status === 'done')).toBe(true);
    });
  },
);
