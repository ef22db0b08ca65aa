import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fleetMetadataSchema, hostMetadataSchema } from '@fleet-backup/core';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, makeTree, sha256File } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'e2e-host';

describe.skipIf(!services)('end to end: producer, worker and agent as separate processes', () => {
  let stack: Stack;
  let source: string;
  let backup: { id: string; key: string; status: string };

  beforeAll(async () => {
    stack = await createStack(services!, 'e2e');
    source = path.join(stack.iso.dir, 'src');
    await makeTree(source, { largeBytes: 20 * 1024 * 1024 });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    const run = await stack.cli(manualBackup(HOST, 'E2E run', [source], '--wait', '--json'));
    expect(run.stderr + run.stdout).not.toMatch(/Error/);
    expect(run.code).toBe(0);
    backup = JSON.parse(run.stdout);
  }, 180_000);
  afterAll(() => stack?.stop());

  it('verifies the backup and reports every stage and copy', async () => {
    expect(backup.status).toBe('verified');
    const show = JSON.parse((await stack.cli(['show', backup.id, '--json'])).stdout);
    expect(show.stages.every((s: { status: string }) => s.status === 'done')).toBe(true);
    expect(show.copies.map((c: { target: string; status: string }) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['second', 'verified'],
    ]);
  });

  it('lays files out under the key with their absolute path and class suffix', async () => {
    const dir = path.join(stack.backupRoot, backup.key);
    const rel = source.slice(1);
    expect(backup.key).toMatch(/^\d{8}_\d{4}_e2e-run$/);
    expect(await listFiles(dir)).toEqual(
      [
        `${rel}/app.db`,
        `${rel}/empty.txt.bak`,
        `${rel}/etc/app.ini.config`,
        `${rel}/etc/app.yaml.config`,
        `${rel}/large.bin.bak`,
        `${rel}/nested/deeper/deepest/leaf.json.bak`,
        `${rel}/with space/ünïcødé ✓/nötes und space.txt.bak`,
      ].sort(),
    );
  });

  it('records sizes and sha256 that match an independent computation, in the seed format', async () => {
    const out = path.join(stack.iso.dir, 'export', 'backup_metadata.json');
    const run = await stack.cli(['export-metadata', '--host', HOST, '--out', out]);
    expect(run.code).toBe(0);
    const doc = hostMetadataSchema.parse(JSON.parse(await readFile(out, 'utf8')));
    const entry = doc.manual[backup.key]!;
    expect(entry).toMatchObject({ purpose: 'test: E2E run', retention: 'permanent' });
    const files = await listFiles(source);
    expect(Object.keys(entry.files).sort()).toEqual(files.map((f) => `${source.slice(1)}/${f}`).sort());
    for (const f of files) {
      const meta = entry.files[`${source.slice(1)}/${f}`]!;
      expect(meta.hash).toBe(await sha256File(path.join(source, f)));
      expect(meta.size).toBe((await stat(path.join(source, f))).size);
      expect('has_wal' in meta).toBe(f.endsWith('.db'));
    }
    // The agent keeps its own copy of the host document current.
    const onHost = JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8'));
    expect(hostMetadataSchema.parse(onHost).manual[backup.key]?.files).toEqual(entry.files);
    const fleet = fleetMetadataSchema.parse(JSON.parse((await stack.cli(['export-metadata'])).stdout));
    expect(fleet.hosts[HOST]?.manual[backup.key]).toEqual(entry);
  });

  it.each(['local', 'second'])(
    'restores byte for byte from %s, refusing to overwrite without --force',
    async (from) => {
      const to = path.join(stack.iso.dir, `restore-${from}`);
      await mkdir(to, { recursive: true });
      const run = await stack.cli(['restore', backup.id, '--to', to, '--from', from, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const restoredRoot = path.join(to, source.slice(1));
      const files = await listFiles(source);
      expect(await listFiles(restoredRoot)).toEqual(files);
      for (const f of files) {
        expect(
          (await readFile(path.join(restoredRoot, f))).equals(await readFile(path.join(source, f))),
        ).toBe(true);
      }
      const again = await stack.cli(['restore', backup.id, '--to', to, '--from', from]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/already exist.*--force/);
      const forced = await stack.cli([
        'restore',
        backup.id,
        '--to',
        to,
        '--from',
        from,
        '--force',
        '--file',
        `${source}/etc/app.yaml`,
      ]);
      expect(forced.code).toBe(0);
      expect(forced.stdout).toMatch(/restored 1 file/);
    },
  );

  it('stops every role cleanly on SIGTERM', async () => {
    for (const role of stack.roles) expect(await role.stop()).toBe(0);
  });
});
