import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type BackupKind,
  buildEntry,
  type EntryInput,
  type HostMetadata,
  hostMetadataSchema,
  type MetadataEntry,
  SECTION,
} from '@fleet-backup/core';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQL_KEPT } from './lifecycle-sql.ts';
import { fleetMetadataChunks, hostMetadata, withReadSnapshot } from './metadata-export.ts';
import { hostMetadataChunks } from './metadata-stream.ts';
import { migrate } from './migrate.ts';
import { createPool, ensureDatabase, type Pool, type Queryable } from './pool.ts';

const services = await serviceUrls();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

interface Fixture {
  path: string;
  cls: 'database' | 'config' | 'general';
  content: string;
  storedPath?: string;
  hasWal?: boolean;
  encrypted?: boolean;
  attrs?: boolean;
  pathBytes?: Buffer;
  checked?: string;
}

// Odd names on purpose: quotes, backslashes, control characters, non-ASCII, canonical array
// indexes (JSON.stringify puts those first), names that look like indexes but are not.
const COMMON: Fixture[] = [
  { path: 'srv/app/naïve café.txt', cls: 'general', content: 'cafe', attrs: true },
  { path: 'srv/app/quote"back\\slash.txt', cls: 'general', content: 'q', checked: '2026-05-02T00:00:00Z' },
  { path: 'srv/app/tab\there\u0001.txt', cls: 'general', content: 't' },
  { path: 'srv/app/emoji 🎉.txt', cls: 'general', content: 'party' },
  { path: '12345', cls: 'general', content: 'index' },
  { path: '0', cls: 'general', content: 'zero' },
  { path: '007', cls: 'general', content: 'not an index' },
  { path: '4294967295', cls: 'general', content: 'past the last index' },
  { path: 'srv/db/app.db', cls: 'database', content: 'sqlite', hasWal: true, attrs: true },
  { path: 'srv/db/app.db-wal', cls: 'database', content: 'wal' },
  { path: 'srv/etc/app.conf', cls: 'config', content: 'conf' },
  { path: 'srv/secret/token', cls: 'config', content: 'secret', encrypted: true, attrs: true },
  {
    path: 'srv/bad\\xff.txt',
    cls: 'general',
    content: 'latin1',
    pathBytes: Buffer.from('srv/bad\xff.txt', 'latin1'),
  },
  {
    path: `srv/${'long'.repeat(70)}`,
    cls: 'general',
    content: 'long',
    storedPath: `srv/${'long'.repeat(10)}~${sha('x').slice(0, 16)}.bak`,
  },
];

const suffix = (f: Fixture) => (f.cls === 'general' ? '.bak' : f.cls === 'config' ? '.config' : '');

async function insertBackup(
  q: Queryable,
  host: string,
  b: {
    kind: BackupKind;
    key: string;
    created: string;
    lifecycle?: string | null;
    files: Fixture[];
    verified?: boolean;
    saved?: boolean;
    request?: Record<string, unknown>;
  },
): Promise<string> {
  const id = randomUUID();
  const request = b.request ?? {
    host,
    kind: b.kind,
    paths: ['/srv', '/etc'],
    description: 'Before the upgrade',
    purpose: 'audit "2026"',
    creator: 'ops',
    ticket: 'CHG-7',
  };
  const input: EntryInput = {
    kind: b.kind,
    created: new Date(b.created),
    expires: b.kind === 'daily' ? new Date(new Date(b.created).getTime() + 30 * 86_400_000) : null,
    description: 'Before the upgrade',
    purpose: 'audit "2026"',
    creator: 'ops',
    ticket: 'CHG-7',
    retention: b.kind === 'daily' ? null : 'permanent',
    notes: 'line one\nline two',
    verified: b.verified ?? true,
    lifecycle: b.lifecycle ?? null,
    changeVerifiedBy: b.lifecycle === 'verified' ? 'alice' : null,
    changeVerifiedAt: b.lifecycle === 'verified' ? new Date('2026-05-05T10:00:00Z') : null,
    files: b.files.map((f) => ({
      path: f.path,
      size: f.content.length,
      sha256: sha(f.content),
      cls: f.cls,
      hasWal: f.cls === 'database' ? (f.hasWal ?? false) : null,
    })),
  };
  await q.query(
    `INSERT INTO backups (id, host, kind, key, status, created_at, expires_at, request, targets, entry, updated_at, lifecycle)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '{s3}', $9, $6, $10)`,
    [
      id,
      host,
      b.kind,
      b.key,
      b.verified === false ? 'running' : 'verified',
      input.created,
      input.expires,
      JSON.stringify(request),
      JSON.stringify(buildEntry(input)),
      b.lifecycle ?? null,
    ],
  );
  await q.query(
    `INSERT INTO backup_stages (backup_id, stage, target, status) VALUES ($1, 'snapshot', '', $2), ($1, 'hash', '', $2)`,
    [id, b.saved === false ? 'pending' : 'done'],
  );
  // Directories and a symlink; srv/app's mtime moves with the file list.
  const nodes: [string, string, string | null, Buffer | null, string][] = [
    ['srv', 'dir', null, null, '1764979200000000000'],
    ['srv/app', 'dir', null, null, b.files.length % 2 ? '1764979300000000000' : '1764979200000000000'],
    ['srv/link', 'symlink', '../etc/app.conf', null, '1764979200000000001'],
    ['srv/odd link', 'symlink', 'bad\\xfe', Buffer.from('bad\xfe', 'latin1'), '1764979200000000002'],
  ];
  for (const [p, type, target, targetBytes, mtime] of b.saved === false ? [] : nodes) {
    await q.query(
      `INSERT INTO backup_nodes (backup_id, path, type, target, target_bytes, mode, uid, gid, owner, grp, mtime_ns, xattrs)
       VALUES ($1, $2, $3, $4, $5, 493, 0, 0, 'root', 'root', $6, $7)`,
      [id, p, type, target, targetBytes, mtime, p === 'srv' ? JSON.stringify({ 'user.a': 'Yg==' }) : null],
    );
  }
  for (const f of b.files) {
    await q.query(
      `INSERT INTO backup_files (backup_id, path, stored_path, class, size, sha256, has_wal, hashed_at,
         stored_sha256, stored_size, key_id, mode, uid, gid, owner, grp, mtime_ns, xattrs, path_bytes, local_checked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
      [
        id,
        f.path,
        f.storedPath ?? `${f.path}${suffix(f)}`,
        f.cls,
        f.content.length,
        sha(f.content),
        f.cls === 'database' ? (f.hasWal ?? false) : null,
        b.verified === false ? null : new Date(new Date(b.created).getTime() + 60_000),
        f.encrypted ? sha(`sealed ${f.content}`) : null,
        f.encrypted ? f.content.length + 28 : null,
        f.encrypted ? 'key-2026' : null,
        f.attrs ? 0o640 : null,
        f.attrs ? 4294967294 : null,
        f.attrs ? 0 : null,
        f.attrs ? 'app' : null,
        f.attrs ? null : null,
        f.attrs ? '1764979200123456789' : null,
        f.attrs
          ? JSON.stringify({ 'user.comment': 'a2VwdA==', 'system.posix_acl_access': 'AgAAAA==' })
          : null,
        f.pathBytes ?? null,
        f.checked ?? null,
      ],
    );
  }
  return id;
}

/** backup_metadata.json as the code before migration 012 wrote it (JSONB entries with their files). */
async function exportedBefore(q: Queryable, host: string): Promise<HostMetadata> {
  const doc: HostMetadata = { daily: {}, pre_change: {}, manual: {} };
  const r = await q.query(
    `SELECT kind, key, entry FROM backups b WHERE host = $1 AND ${SQL_KEPT} ORDER BY key`,
    [host],
  );
  for (const row of r.rows as { kind: BackupKind; key: string; entry: MetadataEntry }[]) {
    const files = Object.fromEntries(
      Object.entries(row.entry.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    (doc[SECTION[row.kind]] as Record<string, MetadataEntry>)[row.key] = { ...row.entry, files };
  }
  return hostMetadataSchema.parse(doc);
}

async function fleetBefore(q: Queryable): Promise<string> {
  const hosts = await q.query<{ id: string }>('SELECT id FROM hosts ORDER BY id');
  const out: { hosts: Record<string, HostMetadata> } = { hosts: {} };
  for (const { id } of hosts.rows) out.hosts[id] = await exportedBefore(q, id);
  return `${JSON.stringify(out, null, 2)}\n`;
}

const NODE_COLUMNS = `backup_id, path, type, target, path_bytes, target_bytes, mode, uid, gid, owner, grp,
  mtime_ns::text, xattrs`;
const FILE_COLUMNS = `backup_id, path, stored_path, class, size, sha256, has_wal, hashed_at, stored_sha256, stored_size,
  key_id, blob_sha256, mode, uid, gid, owner, grp, mtime_ns::text, xattrs, path_bytes`;

describe.skipIf(!services)('migration 012: file versions, in place', () => {
  const name = `fbt_mig012_${randomBytes(4).toString('hex')}`;
  let pool: Pool;
  let admin: Pool;
  const hosts = ['web-01', 'db-01', '42'];
  const before: Record<string, string> = {};
  let fleet = '';
  let rows: unknown[] = [];
  let nodeRows: unknown[] = [];
  let checkedBefore: { path: string; local_checked_at: Date | null }[] = [];
  let fileRows = 0;

  beforeAll(async () => {
    const url = new URL(services!.databaseUrl);
    url.pathname = `/${name}`;
    await ensureDatabase(url.toString());
    pool = createPool(url.toString());
    admin = createPool(services!.databaseUrl);
    expect((await migrate(pool, { upTo: '011_forget.sql' })).at(-1)).toBe('011_forget.sql');

    for (const h of hosts) await pool.query('INSERT INTO hosts (id, first_seen) VALUES ($1, now())', [h]);
    const changed = COMMON.map((f) => (f.path === 'srv/etc/app.conf' ? { ...f, content: 'conf v2' } : f));
    const fewer = changed.filter((f) => f.path !== '0');
    const more = [...fewer, { path: 'srv/app/new.txt', cls: 'general' as const, content: 'new' }];
    await insertBackup(pool, 'web-01', {
      kind: 'daily',
      key: '20260501',
      created: '2026-05-01T02:00:00Z',
      files: COMMON,
    });
    await insertBackup(pool, 'web-01', {
      kind: 'daily',
      key: '20260502',
      created: '2026-05-02T02:00:00Z',
      files: COMMON,
    });
    await insertBackup(pool, 'web-01', {
      kind: 'daily',
      key: '20260503',
      created: '2026-05-03T02:00:00Z',
      files: changed,
      lifecycle: 'expired',
    });
    await insertBackup(pool, 'web-01', {
      kind: 'daily',
      key: '20260504',
      created: '2026-05-04T02:00:00Z',
      files: fewer,
    });
    await insertBackup(pool, 'web-01', {
      kind: 'daily',
      key: '20260505',
      created: '2026-05-05T02:00:00Z',
      files: more,
      lifecycle: 'expiring',
    });
    await insertBackup(pool, 'web-01', {
      kind: 'daily',
      key: '20260506',
      created: '2026-05-06T02:00:00Z',
      files: [],
      verified: false,
      saved: false,
    });
    await insertBackup(pool, 'web-01', {
      kind: 'pre_change',
      key: '20260505_0930_before-the-upgrade',
      created: '2026-05-05T09:30:00Z',
      files: more,
      lifecycle: 'verified',
      request: { host: 'web-01', kind: 'pre_change', paths: ['/srv/db'] },
    });
    await insertBackup(pool, 'web-01', {
      kind: 'manual',
      key: '20260505_1000_audit-2026',
      created: '2026-05-05T10:00:00Z',
      files: fewer,
    });
    await insertBackup(pool, 'web-01', {
      kind: 'manual',
      key: '20260505_1000_audit-2026-2',
      created: '2026-05-05T10:00:30Z',
      files: [],
    });
    await insertBackup(pool, 'db-01', {
      kind: 'daily',
      key: '20260501',
      created: '2026-05-01T03:00:00Z',
      files: COMMON,
    });

    for (const h of hosts) before[h] = `${JSON.stringify(await exportedBefore(pool, h), null, 2)}\n`;
    fleet = await fleetBefore(pool);
    rows = (await pool.query(`SELECT ${FILE_COLUMNS} FROM backup_files ORDER BY backup_id, path`)).rows;
    fileRows = rows.length;
    nodeRows = (await pool.query(`SELECT ${NODE_COLUMNS} FROM backup_nodes ORDER BY backup_id, path`)).rows;
    expect(nodeRows.length).toBeGreaterThan(30);
    checkedBefore = (
      await pool.query('SELECT path, local_checked_at FROM backup_files WHERE local_checked_at IS NOT NULL')
    ).rows;

    expect(await migrate(pool, { upTo: '012_file_versions.sql' })).toEqual(['012_file_versions.sql']);
  });

  afterAll(async () => {
    await pool?.end();
    await admin?.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin?.end();
  });

  it('exports backup_metadata.json byte for byte as before, streamed and in memory, per host and for the fleet', async () => {
    for (const h of hosts) {
      const streamed = await withReadSnapshot(pool, async (rows) => {
        let text = '';
        for await (const chunk of hostMetadataChunks(rows, h)) text += chunk;
        return `${text}\n`;
      });
      expect(streamed).toBe(before[h]);
      expect(`${JSON.stringify(await hostMetadata(pool, h), null, 2)}\n`).toBe(before[h]);
    }
    expect(JSON.parse(before['web-01'] as string).daily['20260504'].files).toHaveProperty('12345');
    const streamedFleet = await withReadSnapshot(pool, async (rows, tx) => {
      let text = '';
      for await (const chunk of fleetMetadataChunks(rows, tx)) text += chunk;
      return `${text}\n`;
    });
    expect(streamedFleet).toBe(fleet);
  });

  it('keeps every backup’s file rows, shares unchanged files between backups, and drops files from the entries', async () => {
    const after = (await pool.query(`SELECT ${FILE_COLUMNS} FROM backup_files ORDER BY backup_id, path`))
      .rows;
    expect(after).toEqual(rows);
    expect(
      (await pool.query(`SELECT ${NODE_COLUMNS} FROM backup_nodes ORDER BY backup_id, path`)).rows,
    ).toEqual(nodeRows);
    // web-01's five saved dailies held 69 rows: 12 files never changed, app.conf changed once,
    // `0` went away, new.txt came: 16 versions.
    const daily = await pool.query(
      `SELECT count(*)::int AS n FROM file_versions v JOIN backup_series s ON s.id = v.series_id
       WHERE s.host = 'web-01' AND s.kind = 'daily'`,
    );
    expect(daily.rows[0].n).toBe(16);
    expect(fileRows).toBe(69 + 14 + 13 + 14);
    expect((await pool.query("SELECT count(*)::int AS n FROM backups WHERE entry ? 'files'")).rows[0].n).toBe(
      0,
    );
    // A backup whose snapshot never ran stays without a number: it lists nothing.
    expect((await pool.query("SELECT seq FROM backups WHERE key = '20260506'")).rows[0].seq).toBeNull();
    // A re-read time shared by copies now merged is the oldest of them (read again soonest).
    const checked = (
      await pool.query(
        'SELECT DISTINCT path, local_checked_at FROM backup_files WHERE local_checked_at IS NOT NULL',
      )
    ).rows;
    expect(checked.length).toBeLessThanOrEqual(checkedBefore.length);
  });
});
