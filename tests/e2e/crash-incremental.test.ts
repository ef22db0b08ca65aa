import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'crash-incr-host';
const FILES = 20_000;
const DIRS = 200;
const KILLS = 3;

interface Shown {
  status: string;
  copies: { target: string; status: string }[];
  stages: { stage: string; attempts: number }[];
  files: { path: string; stored: string; sha256: string }[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!services)(
  'crash: the agent SIGKILLed at random points of a 20,000-file incremental snapshot',
  () => {
    let stack: Stack;
    let source: string;
    const fileName = (i: number) => path.join(source, `d${i % DIRS}`, `f${i}.txt`);

    beforeAll(async () => {
      stack = await createStack(services!, 'crash-incr', { fsTarget: false });
      source = path.join(stack.iso.dir, 'src');
      for (let d = 0; d < DIRS; d++) await mkdir(path.join(source, `d${d}`), { recursive: true });
      for (let i = 0; i < FILES; i++) await writeFile(fileName(i), randomBytes(1024 + (i % 7) * 1024));
      await stack.start(['producer']);
      await stack.start(['worker']);
    }, 300_000);
    afterAll(() => stack?.stop());

    const show = async (id: string): Promise<Shown> =>
      JSON.parse((await stack.cli(['show', id, '--json'])).stdout);
    const localVerified = (id: string, timeoutMs: number) =>
      waitFor(
        async () => {
          const s = await show(id);
          return s.copies.find((c) => c.target === 'local')?.status === 'verified' ? s : null;
        },
        { timeoutMs, intervalMs: 500, what: `backup ${id}'s local copy to be verified` },
      );

    /** Every file under a final name is whole: its bytes are the source file's (which no longer changes). */
    const assertNoTornFile = async (dir: string) => {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isFile() || e.name.startsWith('.fbtmp-')) continue;
        const at = path.join(e.parentPath, e.name);
        const original = `/${path.relative(dir, at).replace(/\.bak$/, '')}`;
        expect(sha256(await readFile(at)), original).toBe(sha256(await readFile(original)));
      }
    };

    it('leaves no torn file, no final name unlike its hash, and converges', async () => {
      let agent: RoleProcess = await stack.start(['agent', '--host', HOST]);
      const agents = [agent];
      const base = await stack.cli(manualBackup(HOST, 'base', [source], '--json'));
      expect(base.code, base.stderr).toBe(0);
      await localVerified(JSON.parse(base.stdout).id, 300_000);

      // Every third file changes: the next snapshot links two thirds and copies one.
      for (let i = 0; i < FILES; i += 3) await writeFile(fileName(i), randomBytes(2048));
      const requested = await stack.cli(manualBackup(HOST, 'crashed', [source], '--json'));
      expect(requested.code, requested.stderr).toBe(0);
      const { id, key } = JSON.parse(requested.stdout) as { id: string; key: string };
      const dir = path.join(stack.backupRoot, key);

      for (let kill = 0; kill < KILLS; kill++) {
        // Somewhere between the walk and the end of the capture: files are landing in the directory.
        await waitFor(async () => (await readdir(dir, { recursive: true }).catch(() => [])).length > 50, {
          timeoutMs: 120_000,
          intervalMs: 20,
          what: 'the snapshot to be writing',
        });
        await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
        await agent.kill();
        await assertNoTornFile(dir);
        agent = await stack.start(['agent', '--host', HOST]);
        agents.push(agent);
      }

      const done = await localVerified(id, 300_000);
      expect(done.stages.find((s) => s.stage === 'snapshot')?.attempts).toBeGreaterThanOrEqual(2);
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      expect(entries.filter((e) => e.name.startsWith('.fbtmp-'))).toEqual([]);
      expect(done.files).toHaveLength(FILES);
      for (const f of done.files) {
        const stored = await readFile(path.join(dir, f.stored));
        expect(sha256(stored), f.path).toBe(f.sha256);
        expect(stored, f.path).toEqual(await readFile(`/${f.path}`));
      }
      // Whichever attempt finished the capture linked thousands of files and copied thousands.
      expect(agents.map((a) => a.log).join('\n')).toMatch(/"linked":\d{4,},"copied":\d{4,}/);
    }, 900_000);
  },
);
