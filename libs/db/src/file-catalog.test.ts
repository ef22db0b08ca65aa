import { createHash } from 'node:crypto';
import { ManualClock } from '@fleet-backup/core';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupStore } from './backup-store.ts';
import type { SnapshotFile } from './file-catalog.ts';
import { HostStore } from './host-store.ts';
import { reportQueries } from './report-queries.ts';
import type { NodeRow } from './rows.ts';

const services = await serviceUrls();
const DAY = 86_400_000;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A realistic file: an application tree, owner and mtime recorded. */
function file(n: number, content = 'v1'): SnapshotFile {
  const path = `srv/app/data/dir-${String(n % 40).padStart(2, '0')}/file-${String(n).padStart(5, '0')}.dat`;
  return {
    path,
    storedPath: `${path}.bak`,
    cls: 'general',
    size: 1000 + n,
    sha256: sha(`${n}:${content}`),
    hasWal: null,
    encrypted: null,
    attrs: {
      mode: 0o644,
      uid: 1000,
      gid: 1000,
      owner: 'app',
      group: 'app',
      mtimeNs: `${1764979200_000_000_000n + BigInt(n)}`,
    },
    pathBytes: null,
  };
}
const named = (path: string, content: string): SnapshotFile => ({
  path,
  storedPath: `${path}.bak`,
  cls: 'general',
  size: content.length,
  sha256: sha(content),
  hasWal: null,
});

describe.skipIf(!services)('file catalog: versions over a series of backups', () => {
  let env: Isolated;
  let store: BackupStore;
  const clock = new ManualClock('2026-06-01T01:00:00Z');

  beforeAll(async () => {
    env = await isolate(services!, 'catalog');
    store = new BackupStore(env.pool, clock);
    await new HostStore(env.pool, clock).touch('app-01');
    await new HostStore(env.pool, clock).touch('db-01');
  });
  afterAll(() => env?.cleanup());

  const daily = async (host: string) => {
    clock.advance(DAY);
    const { backup } = await store.create({
      request: { host, kind: 'daily', paths: ['/srv'] },
      targets: [],
      dailyRetentionDays: 30,
    });
    return backup.id;
  };
  const save = (id: string, files: SnapshotFile[], nodes: NodeRow[] = []) =>
    store.transaction((tx) => store.saveSnapshot(tx, id, files, [], nodes));
  const listed = async (id: string) =>
    (
      await env.pool.query<{ path: string; sha256: string }>(
        'SELECT path, sha256 FROM backup_files WHERE backup_id = $1 ORDER BY path',
        [id],
      )
    ).rows.map((r) => `${r.path}=${r.sha256.slice(0, 8)}`);
  const expected = (files: SnapshotFile[]) =>
    files.map((f) => `${f.path}=${f.sha256.slice(0, 8)}`).sort((a, b) => (a < b ? -1 : 1));
  const versions = async () =>
    Number((await env.pool.query('SELECT count(*)::int AS n FROM file_versions')).rows[0].n);
  const catalogBytes = async () =>
    Number(
      (
        await env.pool.query(
          `SELECT sum(pg_total_relation_size(c))::bigint AS n
           FROM unnest(ARRAY['file_versions', 'node_versions', 'backup_series']::regclass[]) c`,
        )
      ).rows[0].n,
    );

  it('grows with change: an unchanged re-run of 2,000 files adds ≤ 5% of the first backup, ≤ 300 bytes a version', async () => {
    const files = Array.from({ length: 2000 }, (_, i) => file(i));
    // 43 directories, versioned like the files (node_versions), counted too.
    const dirs = [
      'srv',
      'srv/app',
      'srv/app/data',
      ...Array.from({ length: 40 }, (_, i) => `srv/app/data/dir-${String(i).padStart(2, '0')}`),
    ];
    const nodes: NodeRow[] = dirs.map((d) => ({
      path: d,
      type: 'dir',
      target: null,
      pathBytes: null,
      targetBytes: null,
      attrs: {
        mode: 0o755,
        uid: 1000,
        gid: 1000,
        owner: 'app',
        group: 'app',
        mtimeNs: '1764979200000000000',
      },
    }));
    const empty = await catalogBytes();
    const first = await daily('app-01');
    await save(first, files, nodes);
    const firstBytes = (await catalogBytes()) - empty;
    const perVersion = firstBytes / (2000 + nodes.length);
    expect(await versions()).toBe(2000);
    expect(perVersion).toBeLessThanOrEqual(300);

    const before = await catalogBytes();
    const second = await daily('app-01');
    await save(second, files, nodes);
    const rerun = (await catalogBytes()) - before;
    expect(await versions()).toBe(2000);
    expect(rerun).toBeLessThanOrEqual(0.05 * firstBytes);

    // 1% changed: 20 new versions, 20 closed; every list stays exact.
    const changed = files.map((f, i) => (i % 100 === 7 ? file(i, 'v2') : f));
    const third = await daily('app-01');
    await save(third, changed, nodes);
    expect(await versions()).toBe(2020);
    expect(await listed(first)).toEqual(expected(files));
    expect(await listed(second)).toEqual(expected(files));
    expect(await listed(third)).toEqual(expected(changed));
    console.info(
      `catalog: first backup ${firstBytes} B (${perVersion.toFixed(0)} B/version), unchanged re-run +${rerun} B`,
    );
  });

  it("keeps every other backup's list exact when one is deleted, and drops versions no backup holds", async () => {
    const [a, b, b2, c, d, e] = ['a', 'b', 'b2', 'c', 'd', 'e'].map((p) => named(`srv/${p}.txt`, p)) as [
      SnapshotFile,
      SnapshotFile,
      SnapshotFile,
      SnapshotFile,
      SnapshotFile,
      SnapshotFile,
    ];
    const bNew = { ...b2, path: b.path, storedPath: b.storedPath };
    const f = named('srv/only-in-two.txt', 'f');
    const one = await daily('db-01');
    await save(one, [a, b, c]);
    const two = await daily('db-01');
    await save(two, [a, bNew, d, f]);
    const three = await daily('db-01');
    await save(three, [a, bNew, d, e]);
    const start = await versions();

    await env.pool.query('DELETE FROM backups WHERE id = $1', [two]);
    expect(await listed(one)).toEqual(expected([a, b, c]));
    expect(await listed(three)).toEqual(expected([a, bNew, d, e]));
    expect(await versions()).toBe(start - 1); // only f was two's alone

    // The newest deleted: the next snapshot still compares against what is left, and lists stay exact.
    await env.pool.query('DELETE FROM backups WHERE id = $1', [three]);
    expect(await listed(one)).toEqual(expected([a, b, c]));
    const four = await daily('db-01');
    await save(four, [a, bNew, d]);
    expect(await listed(one)).toEqual(expected([a, b, c]));
    expect(await listed(four)).toEqual(expected([a, bNew, d]));

    // A retry saves again under a fresh number; what only the first attempt held goes.
    const before = await versions();
    await save(four, [a]);
    expect(await listed(four)).toEqual(expected([a]));
    expect(await listed(one)).toEqual(expected([a, b, c]));
    expect(await versions()).toBe(before - 2);
  });

  it('saves out of order: a backup saved after a newer one gets the next number, both lists exact', async () => {
    const older = await daily('db-01');
    const newer = await daily('db-01');
    const x = named('srv/x.txt', 'x');
    const y = named('srv/y.txt', 'y');
    const z = named('srv/z.txt', 'z');
    await save(newer, [x, y]);
    await save(older, [x, z]);
    expect(await listed(newer)).toEqual(expected([x, y]));
    expect(await listed(older)).toEqual(expected([x, z]));
    const seqs = await env.pool.query('SELECT id, seq FROM backups WHERE id = ANY($1::uuid[])', [
      [older, newer],
    ]);
    const seqOf = (id: string) => seqs.rows.find((r) => r.id === id)?.seq as number;
    expect(seqOf(older)).toBeGreaterThan(seqOf(newer));
    // An unsaved backup lists nothing, though its series has current versions.
    const unsaved = await daily('db-01');
    expect(await listed(unsaved)).toEqual([]);
  });

  it('round-trips every column through the view (encrypted, attributes, odd stored paths)', async () => {
    const id = await daily('app-01');
    const rows: SnapshotFile[] = [
      {
        path: 'srv/secret/token.json',
        storedPath: 'srv/secret/token.json.config',
        cls: 'config',
        size: 12,
        sha256: sha('token'),
        hasWal: null,
        encrypted: { sha256: sha('sealed'), size: 40, keyId: 'k1' },
        attrs: {
          mode: 0o600,
          uid: 4294967294,
          gid: 0,
          owner: null,
          group: 'root',
          mtimeNs: '1764979200123456789',
          xattrs: { 'user.a': 'YQ==' },
        },
        pathBytes: Buffer.from([0x73, 0x72, 0x76, 0xff]),
      },
      {
        path: 'srv/db/app',
        storedPath: 'srv/db/app.db',
        cls: 'database',
        size: 4096,
        sha256: sha('db'),
        hasWal: true,
        encrypted: null,
        attrs: null,
        pathBytes: null,
      },
      {
        ...named(`srv/${'x'.repeat(250)}`, 'long'),
        storedPath: `srv/${'x'.repeat(40)}~0123456789abcdef.bak`,
      },
    ];
    await save(id, rows);
    const detail = await store.detail(id);
    const byPath = new Map(detail.files.map((f) => [f.path, f]));
    for (const f of rows) {
      expect(byPath.get(f.path)).toEqual({
        encrypted: null,
        attrs: null,
        pathBytes: null,
        ...f,
        hashedAt: null,
      });
    }
    expect(Object.keys(detail.backup.entry.files)).toEqual(rows.map((r) => r.path).sort());
    await store.transaction((tx) => store.markHashed(tx, id));
    expect((await store.detail(id)).files.every((f) => f.hashedAt?.getTime() === clock.now().getTime())).toBe(
      true,
    );
  });

  it('reports local storage as logical bytes and as bytes on disk, each version counted once', async () => {
    await new HostStore(env.pool, clock).touch('disk-01');
    const dailyOf = async () => {
      clock.advance(DAY);
      const { backup } = await store.create({
        request: { host: 'disk-01', kind: 'daily', paths: ['/srv'] },
        targets: [],
        dailyRetentionDays: 30,
      });
      return backup.id;
    };
    const files = Array.from({ length: 10 }, (_, n) => file(n));
    const bytes = files.reduce((n, f) => n + f.size, 0);
    await save(await dailyOf(), files);
    await save(await dailyOf(), files);
    const changed = files.map((f, n) => (n === 0 ? file(0, 'v2') : f));
    await save(await dailyOf(), changed);
    const storage = (await reportQueries.hostStorage(env.pool)).find((h) => h.host === 'disk-01');
    expect(storage).toMatchObject({ backups: 3, localBytes: 3 * bytes, diskBytes: bytes + files[0]!.size });
  });

  it('serialises concurrent saves and deletes of one series: every list stays exact', async () => {
    await new HostStore(env.pool, clock).touch('busy-01');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await daily('busy-01'));
    const lists = ids.map((_, i) =>
      Array.from({ length: 200 }, (_, n) => file(n, n % 7 === i ? `b${i}` : 'v1')),
    );
    const doomed = ids[5] as string;
    await save(doomed, lists[5] as SnapshotFile[]);
    await Promise.all([
      ...ids.slice(0, 5).map((id, i) => save(id, lists[i] as SnapshotFile[])),
      env.pool.query('DELETE FROM backups WHERE id = $1', [doomed]),
    ]);
    for (const [i, id] of ids.slice(0, 5).entries())
      expect(await listed(id)).toEqual(expected(lists[i] as SnapshotFile[]));
    // No version is left that no backup covers.
    const orphans = await env.pool.query(
      `SELECT count(*)::int AS n FROM file_versions v JOIN backup_series s ON s.id = v.series_id
       WHERE s.host = 'busy-01' AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.series_id = v.series_id
         AND b.seq BETWEEN v.first_seq AND COALESCE(v.last_seq, 2147483647))`,
    );
    expect(orphans.rows[0].n).toBe(0);
  });

  it('saves a list longer than one staging batch whole, in batches, and an unchanged re-save writes nothing', async () => {
    const files = Array.from({ length: 4_501 }, (_, i) => ({ ...file(i), path: `batch/${file(i).path}` }));
    const before = await versions();
    const first = await daily('db-01');
    await save(first, files);
    expect(await listed(first)).toEqual(expected(files));
    expect((await versions()) - before).toBe(4_501);
    const second = await daily('db-01');
    await save(second, files);
    expect(await listed(second)).toEqual(expected(files));
    expect((await versions()) - before).toBe(4_501);
  });
});
