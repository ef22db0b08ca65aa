import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'race-host';
const SNAPSHOTS = 20;
const SUBS = 6;
// Unique per run: finding one of these anywhere in a backup can only mean an escape.
const NAME = `escaped-name-${randomBytes(6).toString('hex')}`;
const BYTES = `escaped-bytes-${randomBytes(12).toString('hex')}`;

/**
 * Another process swaps directories for symlinks to a directory outside the roots, in a tight
 * loop: `race/subK` itself, and `race/subK/inner` one level down. Each swap is undone at once, so
 * the walk sees a directory most of the time and a symlink some of the time, and anything that
 * reads by path between the two looks is sent outside.
 */
const RACER = `
const fs = require('node:fs');
const [tree, outside, subs] = process.argv.slice(1);
let swaps = 0;
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const swap = (dir, target) => {
  fs.renameSync(dir, dir + '.away');
  fs.symlinkSync(target, dir);
  fs.unlinkSync(dir);
  fs.renameSync(dir + '.away', dir);
  swaps++;
};
const loop = () => {
  for (let round = 0; round < 50 && !stop; round++) {
    for (let k = 0; k < Number(subs); k++) {
      const sub = tree + '/race/sub' + k;
      swap(sub, outside);
      swap(sub + '/inner', outside + '/inner');
    }
  }
  if (stop) { process.stdout.write(String(swaps)); process.exit(0); }
  setImmediate(loop);
};
loop();
`;

/** Every regular file under dir, never through a symlink. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe.skipIf(!services)('chaos: directories swapped for symlinks while snapshots run', () => {
  let stack: Stack;
  let base: string;
  let tree: string;
  let outside: string;

  beforeAll(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'fb-race-'));
    tree = path.join(base, 'tree');
    outside = path.join(base, 'outside-zone');
    await mkdir(path.join(outside, 'inner'), { recursive: true });
    for (const rel of ['a.txt', `${NAME}.txt`, 'inner/b.txt', `inner/${NAME}-deep.txt`])
      await writeFile(path.join(outside, rel), BYTES);
    for (let k = 0; k < SUBS; k++) {
      const sub = path.join(tree, 'race', `sub${k}`);
      await mkdir(path.join(sub, 'inner'), { recursive: true });
      await writeFile(path.join(sub, 'a.txt'), `inside ${k}\n`);
      await writeFile(path.join(sub, 'inner', 'b.txt'), `inside deeper ${k}\n`);
    }
    await writeFile(path.join(tree, 'steady.txt'), 'always here\n');
    stack = await createStack(services!, 'symrace', {
      hosts: { [HOST]: { sources: [{ path: tree }], roots: [tree] } },
    });
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    if (base) await rm(base, { recursive: true, force: true });
  });

  it(`stores no byte and no name from outside the roots across ${SNAPSHOTS} snapshots`, async () => {
    const racer: ChildProcess = spawn(process.execPath, ['-e', RACER, tree, outside, String(SUBS)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let swapsOut = '';
    racer.stdout?.on('data', (d) => (swapsOut += d));
    const ids: string[] = [];
    try {
      // A few at a time: the agent takes one snapshot at a time anyway, and CLI start-up is slow here.
      for (let i = 0; i < SNAPSHOTS; i += 5) {
        const runs = await Promise.all(
          Array.from({ length: Math.min(5, SNAPSHOTS - i) }, (_, j) =>
            stack.cli(manualBackup(HOST, `race ${i + j}`, [tree], '--wait', '--json')),
          ),
        );
        for (const run of runs) {
          expect(run.code, run.stderr).toBe(0);
          ids.push(JSON.parse(run.stdout).id);
        }
      }
    } finally {
      racer.kill('SIGTERM');
      await new Promise((resolve) => racer.on('exit', resolve));
    }
    const swaps = Number(swapsOut);

    const { rows: backups } = await stack.iso.pool.query(
      'SELECT id, status, skipped FROM backups WHERE id = ANY($1)',
      [ids],
    );
    expect(backups.map((b) => b.status)).toEqual(ids.map(() => 'verified'));
    const { rows: files } = await stack.iso.pool.query(
      'SELECT path, stored_path FROM backup_files WHERE backup_id = ANY($1)',
      [ids],
    );
    const { rows: nodes } = await stack.iso.pool.query(
      'SELECT path, type, target FROM backup_nodes WHERE backup_id = ANY($1)',
      [ids],
    );
    const skipped = backups.flatMap((b) => b.skipped as { path: string; reason: string }[]);

    const escapes: string[] = [];
    const catalog = JSON.stringify({ files, nodes, skipped });
    if (catalog.includes(NAME) || catalog.includes(BYTES)) escapes.push('a name from outside in the catalog');
    for (const file of [...(await filesUnder(stack.backupRoot)), ...(await filesUnder(stack.secondDir))]) {
      if (file.includes(NAME)) escapes.push(`stored name ${file}`);
      if ((await readFile(file)).includes(BYTES)) escapes.push(`bytes from outside in ${file}`);
    }
    const changed = skipped.filter((s) => s.reason.startsWith('changed during the backup')).length;
    const links = nodes.filter((n) => n.type === 'symlink').length;
    console.log(
      `symlink-race: ${ids.length} snapshots, ${escapes.length} escapes, ${changed} entries skipped as changed, ` +
        `${links} symlinks recorded (never followed), ${swaps} swaps by the racer`,
    );
    expect(escapes).toEqual([]);
    expect(swaps).toBeGreaterThan(0);
    // The race was real: the agent met the swapped state, as a symlink or as a change under it.
    expect(changed + links).toBeGreaterThan(0);
    // Every snapshot still holds what never moved.
    const steady = files.filter((f) => f.path === `${tree.slice(1)}/steady.txt`);
    expect(steady).toHaveLength(ids.length);
  }, 600_000);
});
