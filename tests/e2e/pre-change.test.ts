import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Relative until `npm install` links @fleet-backup/client into tests/node_modules.
import {
  BackupNotSafeError,
  FleetBackupApiError,
  FleetBackupClient,
  WaitTimeoutError,
} from '../../libs/client/src/index.ts';
import { waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'pc-host';

describe.skipIf(!services)('pre-change backups through the client library, against real processes', () => {
  let stack: Stack;
  let vault: string;
  let source: string;
  let baseUrl: string;
  let service: FleetBackupClient;
  let ops: FleetBackupClient;
  let serviceToken: string;

  const token = async (args: string[]) => {
    const run = await stack.cli(['tokens', 'create', ...args, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout).token as string;
  };

  beforeAll(async () => {
    vault = await mkdtemp(path.join(os.tmpdir(), 'fbt-vault-'));
    // An fs target flagged offsite stands in for a remote bucket: `safe` needs one verified offsite
    // copy. Offsite, it is sealed, so the roles hold a key.
    stack = await createStack(services!, 'prechange', {
      targets: [{ name: 'vault', url: `file://${vault}`, offsite: true }],
      env: { ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}` },
    });
    source = path.join(stack.iso.dir, 'srv');
    await makeTree(source, { largeBytes: 2 * 1024 * 1024 });
    const producer = await stack.start(['producer']);
    baseUrl = JSON.parse(producer.log.split('\n').find((l) => l.includes('producer listening')) ?? '{}').url;
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    serviceToken = await token([
      '--name',
      'migrator',
      '--scope',
      'pre_change',
      '--host',
      HOST,
      '--path-prefix',
      source,
    ]);
    service = new FleetBackupClient({ baseUrl, token: serviceToken });
    ops = new FleetBackupClient({ baseUrl, token: await token(['--name', 'ops', '--scope', 'admin']) });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(vault, { recursive: true, force: true });
  });

  it('preChange → waitUntilSafe → change verify → retire, through the client and the CLI', async () => {
    const paths = [path.join(source, 'etc'), path.join(source, 'nested')];
    const id = await service.preChange({
      host: HOST,
      paths,
      description: 'Before schema v2',
      change_ticket: 'CHG-E2E-1',
    });
    const safe = await service.waitUntilSafe(id, { timeoutMs: 45_000, intervalMs: 200 });
    expect(safe.safe).toBe(true);
    expect(safe.key).toMatch(/^\d{8}_\d{4}_before-schema-v2$/);
    expect(safe.safety).toMatchObject({ local_hashed: true, offsite_verified: 1, offsite_required: 1 });
    expect(safe.change).toMatchObject({ status: 'pending_verification', retention: 'until_verified' });

    const run = await stack.cli(['change', 'verify', 'CHG-E2E-1', '--by', 'alice', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).backups).toMatchObject([
      { id, change_status: 'verified', verified_by: 'alice' },
    ]);
    const verified = await service.getBackup(id);
    expect(verified.metadata).toMatchObject({
      status: 'verified',
      verified_by: 'alice',
      change_ticket: 'CHG-E2E-1',
    });
    expect(Date.parse(String(verified.metadata.verified_date))).toBeGreaterThan(Date.parse(verified.created));
    const exported = JSON.parse((await stack.cli(['export-metadata', '--host', HOST])).stdout);
    expect(exported.pre_change[safe.key]).toMatchObject({ status: 'verified', verified_by: 'alice' });

    // Cleanup is a person's decision: the service's token may not retire, an admin's may.
    await expect(service.retire(id)).rejects.toMatchObject({ status: 403 });
    const retired = await ops.retire(id, { by: 'alice' });
    expect(retired).toMatchObject({ id, key: safe.key });
    const ended = await waitFor(
      async () => {
        const b = await ops.getBackup(id);
        return b.change?.status === 'retired' ? b : null;
      },
      { timeoutMs: 30_000, what: 'the backup to end retired' },
    );
    expect(ended.safe).toBe(false);
    expect(ended.metadata).toMatchObject({ status: 'retired', verified_by: 'alice' });
  });

  it('keeps a backup holding database files permanently: verified, it still cannot be retired', async () => {
    const id = await service.preChange({
      host: HOST,
      paths: [source],
      description: 'Before data fix',
      change_ticket: 'CHG-E2E-DB',
    });
    const safe = await service.waitUntilSafe(id, { timeoutMs: 45_000, intervalMs: 200 });
    // The tree holds app.db: a pre_change left at the default becomes permanent once the agent sees it.
    expect(safe.change).toMatchObject({ status: 'pending_verification', retention: 'permanent' });
    await service.verifyChange('CHG-E2E-DB', 'migrator');
    const refused = await ops.retire(id).catch((e) => e);
    expect(refused).toBeInstanceOf(FleetBackupApiError);
    expect(refused).toMatchObject({ status: 409 });
    expect(refused.message).toMatch(/permanent/);
  });

  it('failChange keeps the backup pending and names a restore command that rolls the files back', async () => {
    const config = path.join(source, 'etc', 'app.yaml');
    const id = await service.preChange({
      host: HOST,
      paths: [path.join(source, 'etc')],
      description: 'Before config rollout',
      change_ticket: 'CHG-E2E-2',
    });
    const safe = await service.waitUntilSafe(id, { timeoutMs: 45_000, intervalMs: 200 });
    expect(safe.change).toMatchObject({ retention: 'until_verified' });
    await writeFile(config, 'port: broken\n');

    const report = await service.failChange('CHG-E2E-2', 'deploy-bot', 'pods crash-loop after rollout');
    expect(report.backups).toMatchObject([{ id, change_status: 'pending_verification' }]);
    const [command] = report.restore_commands;
    expect(command).toBe(`fleet-backup restore ${id} --to / --from auto --force`);
    const restore = await stack.cli(command!.split(' ').slice(1));
    expect(restore.code, restore.stderr).toBe(0);
    expect(await readFile(config, 'utf8')).toBe('port: 8080\n');
    expect((await service.getBackup(id)).change).toMatchObject({ status: 'pending_verification' });
  });

  it('throws a clear error when the backup fails, and when the wait times out', async () => {
    const missing = await service.preChange({
      host: HOST,
      paths: [path.join(source, 'not-there')],
      description: 'Doomed',
      change_ticket: 'CHG-E2E-3',
    });
    const failed = await service
      .waitUntilSafe(missing, { timeoutMs: 45_000, intervalMs: 200 })
      .catch((e) => e);
    expect(failed).toBeInstanceOf(BackupNotSafeError);
    expect(failed.message).toMatch(/is failed and will not become safe/);
    const slow = await service.preChange({
      host: HOST,
      paths: [source],
      description: 'Slow',
      change_ticket: 'CHG-E2E-4',
    });
    await expect(service.waitUntilSafe(slow, { timeoutMs: 1, intervalMs: 1 })).rejects.toBeInstanceOf(
      WaitTimeoutError,
    );
  });

  it('refuses what the token does not cover, and a revoked token, with typed errors', async () => {
    const outside = await service
      .preChange({ host: HOST, paths: ['/etc'], description: 'Sneaky', change_ticket: 'CHG-X' })
      .catch((e) => e);
    expect(outside).toBeInstanceOf(FleetBackupApiError);
    expect(outside).toMatchObject({ status: 403, code: 'forbidden' });
    const list = await stack.cli(['tokens', 'list', '--json']);
    expect(
      JSON.parse(list.stdout)
        .map((t: { name: string }) => t.name)
        .sort(),
    ).toEqual(['migrator', 'ops']);
    expect(list.stdout).not.toContain(serviceToken);
    expect((await stack.cli(['tokens', 'revoke', 'migrator'])).code).toBe(0);
    await expect(service.getBackup('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      status: 401,
    });
  });
});
