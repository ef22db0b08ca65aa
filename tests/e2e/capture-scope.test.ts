import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '@fleet-backup/core';
import { BackupStore } from '@fleet-backup/db';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Relative until `npm install` links @fleet-backup/client into tests/node_modules.
import { FleetBackupClient } from '../../libs/client/src/index.ts';
import { waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'scope-host';
// Unique per run: found anywhere in a backup, it can only have come from private-notes.txt.
const PRIVATE = `private-notes-${randomBytes(12).toString('hex')}`;
const ENDED = ['verified', 'unverified', 'incomplete', 'failed'];

/** Every regular file under dir, never through a symlink. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe.skipIf(!services)("a pre_change token's scope is judged by real paths on the agent", () => {
  let stack: Stack;
  let base: string;
  let app: string;
  let service: FleetBackupClient;
  let ops: FleetBackupClient;
  let store: BackupStore;

  const token = async (args: string[]) => {
    const run = await stack.cli(['tokens', 'create', ...args, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout).token as string;
  };
  const ended = (id: string) =>
    waitFor(
      async () => {
        const b = await ops.getBackup(id);
        return ENDED.includes(b.status) ? b : null;
      },
      { timeoutMs: 60_000, what: `backup ${id} to end` },
    );
  const leaks = async () => {
    const found: string[] = [];
    for (const file of [...(await filesUnder(stack.backupRoot)), ...(await filesUnder(stack.secondDir))])
      if ((await readFile(file)).includes(PRIVATE)) found.push(file);
    return found;
  };

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'fb-scope-'));
    const h1 = path.join(base, 'h1');
    app = path.join(h1, 'app');
    await mkdir(app, { recursive: true });
    await mkdir(path.join(h1, 'private'));
    await writeFile(path.join(app, 'app.conf'), 'port=8080\n');
    await writeFile(path.join(h1, 'private', 'private-notes.txt'), `${PRIVATE}\n`);
    await symlink(path.join(h1, 'private'), path.join(app, 'link-to-private'));
    // The agent may read all of h1: only the token's scope keeps private out.
    stack = await createStack(services!, 'scope', { hosts: { [HOST]: { sources: [], roots: [h1] } } });
    store = new BackupStore(stack.iso.pool, systemClock);
    const producer = await stack.start(['producer']);
    const baseUrl = JSON.parse(
      producer.log.split('\n').find((l) => l.includes('producer listening')) ?? '{}',
    ).url;
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    const scoped = ['--scope', 'pre_change', '--host', HOST, '--path-prefix', app];
    service = new FleetBackupClient({ baseUrl, token: await token(['--name', 'migrator', ...scoped]) });
    ops = new FleetBackupClient({ baseUrl, token: await token(['--name', 'ops', '--scope', 'admin']) });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it('backs up the allowed tree, recording the symlink out of it as a symlink, never its target files', async () => {
    const id = await service.preChange({
      host: HOST,
      paths: [app],
      description: 'scoped app',
      change_ticket: 'CHG-S1',
    });
    const done = await ended(id);
    expect(done.status).toBe('verified');
    // What the token itself may read back (the API's view carries the file list).
    const shown = (await service.getBackup(id)) as unknown as { files: { path: string }[] };
    expect(shown.files.map((f) => f.path)).toEqual([`${app.slice(1)}/app.conf`]);
    expect(JSON.stringify(shown)).not.toContain('private-notes');
    const { nodes } = await store.detail(id);
    expect(nodes.find((n) => n.path === `${app.slice(1)}/link-to-private`)).toMatchObject({
      type: 'symlink',
      target: path.join(base, 'h1', 'private'),
    });
    expect(await leaks()).toEqual([]);
  });

  it('fails for good a request whose path resolves through a symlink out of the prefixes, storing nothing', async () => {
    const inside = path.join(app, 'link-to-private', 'private-notes.txt');
    const id = await service.preChange({
      host: HOST,
      paths: [inside],
      description: 'through the link',
      change_ticket: 'CHG-S2',
    });
    const done = await ended(id);
    expect(done.status).toBe('failed');
    const snapshot = done.stages.find((s: { stage: string }) => s.stage === 'snapshot');
    expect(snapshot?.error).toBe(
      `path ${inside} resolves (through a symlink) outside the path prefixes of token migrator; ` +
        'a pre_change token backs up only what lies under its prefixes after every symlink, as the API refuses other paths (403)',
    );
    expect(snapshot?.attempts).toBe(1);
    expect((await store.detail(id)).files).toEqual([]);
    expect(await leaks()).toEqual([]);
    // Asked for directly, the API refuses it, as before.
    await expect(
      service.preChange({
        host: HOST,
        paths: [path.join(base, 'h1', 'private')],
        description: 'direct',
        change_ticket: 'CHG-S3',
      }),
    ).rejects.toMatchObject({ status: 403 });
  });
});
