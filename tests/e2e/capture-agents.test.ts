import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'twin-host';

interface Shown {
  id: string;
  status: string;
  files: { path: string; stored: string }[];
  skipped: { path: string; reason: string }[];
}

describe.skipIf(!services)(
  'two agents for one host: a starting agent never takes a running snapshot’s work',
  () => {
    let stack: Stack;
    let source: string;
    let first: RoleProcess;
    let staging: string;

    const show = async (id: string): Promise<Shown> =>
      JSON.parse((await stack.cli(['show', id, '--json'])).stdout);
    /** The staging directories holding an environment.config, once a capture has written one. */
    const staged = async () => {
      const dirs = await readdir(staging).catch(() => [] as string[]);
      const withItem = [];
      for (const d of dirs)
        if ((await readdir(path.join(staging, d)).catch(() => [])).length) withItem.push(d);
      return withItem.length ? withItem : null;
    };

    beforeAll(async () => {
      source = await mkdtemp(path.join(os.tmpdir(), 'fb-twins-'));
      await mkdir(path.join(source, 'app'));
      await writeFile(path.join(source, 'app', 'package.json'), '{"name":"twin"}\n');
      stack = await createStack(services!, 'twins', {
        hosts: {
          [HOST]: {
            sources: [{ path: source }],
            environment: { allow: ['FBTWIN_*'] },
            // A slow command holds the snapshot mid-capture, after environment.config is staged.
            dependencies: {
              manifests: [path.join(source, 'app', 'package.json')],
              commands: [{ name: 'slow', argv: ['sleep', '5'] }],
            },
          },
        },
      });
      staging = path.join(stack.backupRoot, '.staging');
      await stack.start(['worker']);
      first = await stack.start(['agent', '--host', HOST], { FBTWIN_MODE: 'blue' });
    }, 60_000);
    afterAll(async () => {
      await stack?.stop();
      await rm(source, { recursive: true, force: true });
    });

    it('a second agent started during a snapshot leaves its staged items alone: the backup holds them all', async () => {
      const run = stack.cli(manualBackup(HOST, 'rolling restart', [source], '--wait', '--json'));
      const during = await waitFor(staged, { timeoutMs: 60_000, what: 'the first agent to stage its items' });
      await stack.start(['agent', '--host', HOST], { FBTWIN_MODE: 'blue' });
      // The second agent has swept at start: the running capture's directory is still there.
      expect(await readdir(staging)).toEqual(expect.arrayContaining(during));
      const done = await run;
      expect(done.code, done.stderr).toBe(0);
      const shown = await show(JSON.parse(done.stdout).id);
      expect(shown.status).toBe('verified');
      expect(shown.files.map((f) => f.stored)).toEqual(
        expect.arrayContaining(['environment.config', 'dependencies.config']),
      );
      expect(shown.skipped).toEqual([]);
      expect(first.alive).toBe(true);
    }, 120_000);

    it("a SIGKILLed agent's staging is swept by the agent that takes its job over, and the backup completes", async () => {
      const run = stack.cli(manualBackup(HOST, 'crash loop', [source], '--wait', '--json'));
      const [dir] = await waitFor(staged, { timeoutMs: 60_000, what: 'a capture to stage its items' });
      const ownerPid = Number(dir!.split('@')[1]!.split('.')[1]);
      const owner = stack.roles.find((r) => r.child.pid === ownerPid);
      expect(owner, `an agent with pid ${ownerPid}`).toBeDefined();
      await owner!.kill();
      const done = await run;
      expect(done.code, done.stderr).toBe(0);
      const shown = await show(JSON.parse(done.stdout).id);
      expect(shown.status).toBe('verified');
      expect(shown.files.map((f) => f.stored)).toEqual(
        expect.arrayContaining(['environment.config', 'dependencies.config']),
      );
      // The killed agent's directory went when the survivor staged the retry; the retry's own went after it.
      expect(await readdir(staging)).toEqual([]);
    }, 180_000);
  },
);
