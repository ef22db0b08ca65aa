import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { systemClock } from '@fleet-backup/core';
import { type BackupDetail, BackupStore, type FileRow } from '@fleet-backup/db';
import { FsTarget, listingKey, manifestKey, manifestText, serializeManifest } from '@fleet-backup/storage';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendSegments, settleChain } from '../stages/listing-chain.ts';
import { buildManifest, type ManifestForm } from '../stages/manifest.ts';
import { catalogManifest, checkManifest } from './manifest-check.ts';

const services = await serviceUrls();
const HOST = 'manifest-forms-host';
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/**
 * Manifests no longer repeat every file in the seed entry (about 43% of their stored bytes). A copy
 * written before, in the earlier form, must still check and be rewritten byte for byte.
 */
describe.skipIf(!services)('manifest forms', () => {
  let env: Isolated;
  let dir: string;
  let target: FsTarget;
  let detail: BackupDetail;
  const stored = (form: ManifestForm) =>
    serializeManifest(buildManifest(detail, new Map(), form), { target: 'second', key: 'k' });
  const put = (bytes: Buffer) =>
    target.put(manifestKey(HOST, detail.backup.key), Readable.from([bytes]), {
      sha256: sha(bytes),
      size: bytes.length,
    });

  beforeAll(async () => {
    env = await isolate(services!, 'manifest-forms');
    dir = await mkdtemp(path.join(tmpdir(), 'manifest-forms-'));
    target = new FsTarget({ name: 'second', root: dir });
    await env.pool.query('INSERT INTO hosts (id, first_seen) VALUES ($1, now())', [HOST]);
    const store = new BackupStore(env.pool, systemClock);
    const { backup } = await store.create({
      request: { host: HOST, kind: 'manual', paths: ['/srv'], purpose: 'forms', retention: 'days_7' },
      targets: [{ name: 'second', kind: 'fs', offsite: false }],
      dailyRetentionDays: 30,
    });
    const file = (p: string, over: Partial<FileRow>): Omit<FileRow, 'hashedAt'> => ({
      path: p,
      storedPath: p,
      cls: 'general',
      size: p.length,
      sha256: sha(p),
      hasWal: null,
      encrypted: null,
      attrs: null,
      pathBytes: null,
      ...over,
    });
    const rows = [file('srv/app.db', { cls: 'database', hasWal: true }), file('srv/notes.txt', {})];
    await store.transaction((tx) => store.saveSnapshot(tx, backup.id, rows, [], []));
    detail = await store.detail(backup.id);
  });
  afterAll(async () => {
    await env?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('keeps the seed entry without its files, and a database file its has_wal', () => {
    const current = buildManifest(detail, new Map(), 'inline');
    expect(current.entry).not.toHaveProperty('files');
    expect(current.entry).toMatchObject({ purpose: 'forms', retention: 'days_7' });
    expect(current.files['srv/app.db']?.hasWal).toBe(true);
    expect(current.files['srv/notes.txt']).not.toHaveProperty('hasWal');
    // Everything the whole entry's files said, the manifest's files say.
    const whole = buildManifest(detail, new Map(), 'entry-files');
    const entryFiles = (whole.entry as { files: Record<string, unknown> }).files;
    expect(entryFiles).toEqual({
      'srv/app.db': { size: 10, hash: sha('srv/app.db'), has_wal: true },
      'srv/notes.txt': { size: 13, hash: sha('srv/notes.txt') },
    });
    expect(whole.files['srv/app.db']).not.toHaveProperty('hasWal');
    expect(stored('inline').length).toBeLessThan(stored('entry-files').length);
  });

  it('checks a copy written in the earlier form, with or without its sha256 recorded', async () => {
    const earlier = stored('entry-files');
    await put(earlier);
    expect((await checkManifest(env.pool, target, detail, sha(earlier))).problems).toEqual([]);
    expect((await checkManifest(env.pool, target, detail, null)).problems).toEqual([]);
    const text = manifestText(earlier, { target: 'second', key: 'k' }).toString('utf8');
    await put(Buffer.from(text.replace('"purpose": "forms"', '"purpose": "Forms"')));
    expect((await checkManifest(env.pool, target, detail, null)).problems).toEqual([
      {
        path: manifestKey(HOST, detail.backup.key),
        problem: expect.stringMatching(/^manifest differs from/),
      },
    ]);
  });

  it('rebuilds the bytes of the form a copy was written in, for a repair', async () => {
    const earlier = stored('entry-files');
    const current = stored('inline');
    expect(await catalogManifest(env.pool, detail, 'second', sha(earlier))).toEqual({
      bytes: earlier,
      sha256: sha(earlier),
    });
    expect(await catalogManifest(env.pool, detail, 'second', null)).toEqual({
      bytes: current,
      sha256: sha(current),
    });
    expect(await catalogManifest(env.pool, detail, 'second', '0'.repeat(64))).toBeNull();
  });

  it('reads a listing segment whole unless it was read good within the window, then only heads it', async () => {
    const chain = await settleChain(env.pool, detail, new Map());
    const [segment] = chain;
    await sendSegments(target, HOST, chain, 1);
    const listed = serializeManifest(
      buildManifest(
        detail,
        new Map(),
        'listing',
        chain.map((c) => c.sha256),
      ),
      { target: 'second', key: 'k' },
    );
    await put(listed);
    const T0 = new Date('2026-06-01T05:00:00Z');
    const at = (hours: number) => new Date(T0.getTime() + hours * 3_600_000);
    const check = (reads: { now: Date; since?: Date }) =>
      checkManifest(env.pool, target, detail, sha(listed), reads);
    // Never read: read whole, and noted good.
    expect(await check({ now: at(0), since: at(-1) })).toMatchObject({
      problems: [],
      bytes: listed.length + segment!.bytes.length,
    });
    // Read good since: only confirmed there. Rot inside it (same size) waits for a whole read.
    const file = path.join(dir, listingKey(HOST, segment!.sha256));
    const bytes = await readFile(file);
    bytes[bytes.length >> 1]! ^= 0xff;
    await writeFile(file, bytes);
    expect(await check({ now: at(1), since: at(0) })).toMatchObject({ problems: [], bytes: listed.length });
    const whole = await check({ now: at(2) });
    expect(whole.problems).toEqual([
      {
        path: listingKey(HOST, segment!.sha256),
        problem: expect.stringMatching(/^listing segment bytes differ/),
      },
    ]);
    expect(whole.badSegments.map((s) => s.sha256)).toEqual([segment!.sha256]);
  });
});
