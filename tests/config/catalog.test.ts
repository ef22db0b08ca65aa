import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type ConfigFile, configFileSchema, loadConfig } from '@fleet-backup/config';
import { capturedLog } from '@fleet-backup/config/testing';
import {
  applyConfig,
  openRuntime,
  type Runtime,
  refreshConfig,
  requestBackup,
  startOnCatalog,
} from '@fleet-backup/runtime';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const services = await serviceUrls();
const by = { appliedBy: 'test:alice@ops', origin: 'apply' as const };

/**
 * The configuration kept in the catalog: versions applied whole or not at all, hosts following
 * each version in the transaction that stores it, and every runtime reading the catalog on the
 * newest version without a restart.
 */
describe.skipIf(!services)('configuration versions in the catalog', () => {
  let iso: Isolated;
  let applier: Runtime;
  let reader: Runtime;
  let doc: (hosts: string[], targets: string[], extra?: Partial<ConfigFile>) => ConfigFile;
  let env: Record<string, string>;

  beforeAll(async () => {
    iso = await isolate(services!, 'config-catalog');
    env = {
      DATABASE_URL: iso.databaseUrl,
      REDIS_URL: iso.redisUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      BACKUP_ROOT: path.join(iso.dir, 'backup'),
      LOG_LEVEL: 'warn',
    };
    for (const t of ['second', 'third']) await mkdir(path.join(iso.dir, t), { recursive: true });
    doc = (hosts, targets, extra = {}) =>
      configFileSchema.parse({
        hosts: Object.fromEntries(hosts.map((h) => [h, { sources: [{ path: `/srv/${h}` }] }])),
        targets: targets.map((t) => ({ name: t, url: `file://${path.join(iso.dir, t)}` })),
        ...extra,
      });
    applier = await openRuntime(loadConfig(env), { name: 'applier', migrate: true, catalog: true });
    // A second process with no configuration of its own (no FLEET_BACKUP_CONFIG).
    reader = await openRuntime(loadConfig(env), { name: 'reader', catalog: true });
  });
  afterAll(async () => {
    await applier?.close();
    await reader?.close();
    await iso?.cleanup();
  });

  const hostsInFleet = async () =>
    (
      await iso.pool.query<{ id: string }>(
        'SELECT id FROM hosts WHERE in_config AND deregistered_at IS NULL ORDER BY id',
      )
    ).rows.map((r) => r.id);

  it('stores a version with who applied it, once: the same document again is no new version', async () => {
    expect(reader.configVersion).toBeNull();
    const first = await applyConfig(applier, doc(['web-1'], ['second']), by);
    expect(first).toMatchObject({ version: 1, created: true, changes: ['+ host web-1', '+ target second'] });
    expect(await applyConfig(applier, doc(['web-1'], ['second']), by)).toEqual({
      version: 1,
      created: false,
      changes: [],
    });
    expect(await applier.configs.history()).toEqual([
      { version: 1, appliedBy: 'test:alice@ops', appliedAt: expect.any(Date), origin: 'apply' },
    ]);
    expect(await hostsInFleet()).toEqual(['web-1']);
  });

  it('a dry run shows the change and changes nothing', async () => {
    const dry = await applyConfig(applier, doc(['web-2'], ['second', 'third']), { ...by, dryRun: true });
    expect(dry).toEqual({
      version: 1,
      created: false,
      changes: ['+ host web-2', '- host web-1', '+ target third'],
    });
    expect(await applier.configs.currentVersion()).toBe(1);
    expect(await hostsInFleet()).toEqual(['web-1']);
  });

  it('another process plans on the newest version, and each backup records it with its targets', async () => {
    expect(await refreshConfig(reader)).toBe(true);
    expect(reader.configVersion).toBe(1);
    const one = await requestBackup(reader, {
      host: 'web-1',
      kind: 'manual',
      paths: ['/srv/web-1'],
      purpose: 'v1',
      retention: 'days_7',
    });
    expect(one.backup).toMatchObject({ configVersion: 1, targets: ['second'] });

    await applyConfig(applier, doc(['web-1', 'web-2'], ['second', 'third'], { dailyRetentionDays: 9 }), by);
    // No restart: the next plan takes version 2, its targets and its settings.
    const two = await requestBackup(reader, {
      host: 'web-2',
      kind: 'manual',
      paths: ['/srv/web-2'],
      purpose: 'v2',
      retention: 'days_7',
    });
    expect(two.backup).toMatchObject({ configVersion: 2, targets: ['second', 'third'] });
    expect(reader.config.dailyRetentionDays).toBe(9);
    expect(reader.targets.names()).toEqual(['second', 'third']);
    expect(await hostsInFleet()).toEqual(['web-1', 'web-2']);
  });

  it('serialises appliers: two at once get consecutive versions, each diffed against the one before', async () => {
    const [a, b] = await Promise.all([
      applyConfig(applier, doc(['web-3'], ['second']), by),
      applyConfig(reader, doc(['web-4'], ['second']), { ...by, appliedBy: 'test:bob@ops' }),
    ]);
    expect([a.version, b.version].sort()).toEqual([3, 4]);
    const newest = (await applier.configs.current())!;
    expect(newest.version).toBe(4);
    // Whichever came last is the fleet: hosts follow the newest version, the others deregistered.
    const last = a.version === 4 ? 'web-3' : 'web-4';
    expect(await hostsInFleet()).toEqual([last]);
    expect((await applier.configs.get(2))?.doc).toMatchObject({ dailyRetentionDays: 9 });
  });

  it('a runtime not reading the catalog (an in-process test) keeps the configuration it was given', async () => {
    const fixed = await openRuntime(loadConfig({ DATABASE_URL: iso.databaseUrl, LOG_LEVEL: 'warn' }), {
      name: 'fixed',
    });
    try {
      expect(await refreshConfig(fixed)).toBe(false);
      expect(fixed.configVersion).toBeNull();
      expect(fixed.config.hosts).toEqual({});
    } finally {
      await fixed.close();
    }
  });

  it('says so when a process runs on its own file because nothing is applied yet', async () => {
    const fresh = await isolate(services!, 'config-empty');
    const file = path.join(fresh.dir, 'fleet.json');
    await writeFile(file, JSON.stringify(doc(['web-1'], ['second'])));
    const { log, lines } = capturedLog('cli', 'warn');
    const cli = await openRuntime(
      loadConfig({ ...env, DATABASE_URL: fresh.databaseUrl, FLEET_BACKUP_CONFIG: file }),
      { name: 'cli', migrate: true, catalog: true, log },
    );
    try {
      await startOnCatalog(cli, { applyFile: false });
      expect(cli.configVersion).toBeNull();
      expect(Object.keys(cli.config.hosts)).toEqual(['web-1']);
      expect(lines.join('')).toContain('no configuration version in the catalog yet');
    } finally {
      await cli.close();
      await fresh.cleanup();
    }
  });

  it("counts the environment's overrides where a file is applied, and nowhere else", async () => {
    const file = path.join(iso.dir, 'fleet.json');
    await writeFile(file, JSON.stringify(doc(['web-1'], ['second'])));
    // The producer applies its file with its environment's overrides folded into the version.
    const producer = await openRuntime(
      loadConfig({ ...env, FLEET_BACKUP_CONFIG: file, SAFE_OFFSITE_COPIES: '2', DAILY_AT: '03:30' }),
      { name: 'producer', catalog: true },
    );
    // A worker with other overrides in its environment runs on the version all the same.
    const worker = await openRuntime(loadConfig({ ...env, SAFE_OFFSITE_COPIES: '0', DAILY_AT: '05:00' }), {
      name: 'worker',
      catalog: true,
    });
    try {
      await startOnCatalog(producer, { applyFile: true });
      const stored = await producer.configs.current();
      expect(stored?.doc).toMatchObject({ safeOffsiteCopies: 2, dailyAt: '03:30' });
      await startOnCatalog(worker, { applyFile: false });
      expect(worker.configVersion).toBe(stored?.version);
      expect(worker.config).toMatchObject({ safeOffsiteCopies: 2, dailyAt: '03:30' });
      expect(producer.config).toMatchObject({ safeOffsiteCopies: 2, dailyAt: '03:30' });
    } finally {
      await producer.close();
      await worker.close();
    }
  });
});
