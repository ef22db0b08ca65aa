import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, sha256File, writeLarge } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'crash-host';
const LARGE = 512 * 1024 * 1024;

interface Shown {
  status: string;
  stages: { stage: string; target: string | null; status: string; attempts: number }[];
  files: { path: string; stored: string; size: number; sha256: string }[];
  metadata: { files: Record<string, unknown> };
}

describe.skipIf(!services)('crash: the agent is SIGKILLed in the middle of a snapshot', () => {
  let stack: Stack;
  let source: string;

  beforeAll(async () => {
    stack = await createStack(services!, 'crash');
    source = path.join(stack.iso.dir, 'src');
    await writeLarge(path.join(source, 'big', 'disk.img'), LARGE);
    await writeFile(path.join(source, 'app.conf'), 'mode=prod\n');
    await stack.start(['producer']);
    await stack.start(['worker']);
  }, 120_000);
  afterAll(() => stack?.stop());

  const show = async (id: string): Promise<Shown> =>
    JSON.parse((await stack.cli(['show', id, '--json'])).stdout);
  const backupArgs = (description: string) => manualBackup(HOST, description, [source], '--json');

  it('completes after a new agent takes over, with no partial file under a final name and clean-run metadata', async () => {
    const first = await stack.start(['agent', '--host', HOST]);
    const requested = await stack.cli(backupArgs('crashed'));
    expect(requested.code, requested.stderr).toBe(0);
    const { id, key } = JSON.parse(requested.stdout) as { id: string; key: string };
    const dir = path.join(stack.backupRoot, key);

    // Kill once a good part of the large file sits in its temporary file.
    await waitFor(async () => (await tempFiles(dir)).some((t) => t.size > 64 * 1024 * 1024), {
      timeoutMs: 60_000,
      intervalMs: 10,
      what: 'the snapshot to be half-way through the large file',
    });
    await first.kill();

    // Whatever sits under a final name is complete: the large file is not there, or only whole.
    for (const rel of (await listFiles(dir)).filter((f) => !path.basename(f).startsWith('.fbtmp-'))) {
      const original = `/${rel.replace(/\.(bak|config)$/, '')}`;
      expect((await stat(path.join(dir, rel))).size).toBe((await stat(original)).size);
    }
    expect((await show(id)).status).toBe('running');

    await stack.start(['agent', '--host', HOST]);
    const done = await waitFor(
      async () => {
        const s = await show(id);
        return s.status !== 'running' ? s : null;
      },
      { timeoutMs: 180_000, intervalMs: 500, what: 'the backup to finish after the restart' },
    );
    expect(done.status).toBe('verified');
    expect(done.stages.find((s) => s.stage === 'snapshot')?.attempts).toBeGreaterThanOrEqual(2);
    expect(await tempFiles(dir)).toEqual([]);
    expect(await listFiles(dir)).toEqual([
      `${source.slice(1)}/app.conf.config`,
      `${source.slice(1)}/big/disk.img.bak`,
    ]);
    expect(await sha256File(path.join(dir, source.slice(1), 'big', 'disk.img.bak'))).toBe(
      await sha256File(path.join(source, 'big', 'disk.img')),
    );

    // A clean run of the same source records exactly the same files, sizes and hashes.
    const clean = await stack.cli([...backupArgs('clean'), '--wait']);
    expect(clean.code, clean.stderr).toBe(0);
    const cleanShown = await show(JSON.parse(clean.stdout).id);
    expect(cleanShown.metadata.files).toEqual(done.metadata.files);
    expect(cleanShown.files).toEqual(done.files);
  }, 400_000);
});

async function tempFiles(dir: string): Promise<{ name: string; size: number }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const temps = entries.filter((e) => e.isFile() && e.name.startsWith('.fbtmp-'));
  return Promise.all(
    temps.map(async (e) => ({
      name: e.name,
      size: (await stat(path.join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size,
    })),
  );
}
