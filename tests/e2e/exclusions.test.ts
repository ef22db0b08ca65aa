import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'excl-host';

/** Every excluded category, plus what the source's include rescues and its exclude removes. */
const TREE: Record<string, string> = {
  'keep.txt': 'kept\n',
  'etc/app.conf': 'port=1\n',
  'sub/deep/data.json': '{"x":1}\n',
  'x.tmp': 'tmp',
  'y.temp': 'temp!',
  '.z.swp': 'swap',
  'tmp/a.txt': 'in tmp',
  'temp/b.txt': 'in temp',
  '.cache/c.bin': 'cached',
  'cache/d.bin': 'cache!!',
  'py/__pycache__/m.cpython-312.pyc': 'bytecode',
  'py/mod.pyc': 'pyc',
  'app.log': 'log line\n',
  'app.log.1': 'older log\n',
  'logs/other.log': 'other\n',
  'logs/audit.log': 'audit trail\n', // rescued by the source's include
  'dist/bundle.js': 'bundle',
  'build/out.o': 'object',
  'node_modules/pkg/index.js': 'module.exports=1',
  'coverage/lcov.info': 'lcov',
  'old/archive/2024.tar': 'archived',
  'data.bak': 'removed by the source exclude',
};
const size = (rel: string) => Buffer.byteLength(TREE[rel] ?? '');
const TAKEN = ['keep.txt', 'etc/app.conf', 'sub/deep/data.json', 'logs/audit.log'];
/** What plan lists as skipped, with the rule, and for a directory the files beneath it. */
const SKIPPED: [string, string, string[]][] = [
  ['x.tmp', 'default rule temp: *.tmp', ['x.tmp']],
  ['y.temp', 'default rule temp: *.temp', ['y.temp']],
  ['.z.swp', 'default rule temp: *.swp', ['.z.swp']],
  ['tmp', 'default rule temp: tmp/', ['tmp/a.txt']],
  ['temp', 'default rule temp: temp/', ['temp/b.txt']],
  ['.cache', 'default rule cache: .cache/', ['.cache/c.bin']],
  ['cache', 'default rule cache: cache/', ['cache/d.bin']],
  ['py/__pycache__', 'default rule cache: __pycache__/', ['py/__pycache__/m.cpython-312.pyc']],
  ['py/mod.pyc', 'default rule generated: *.pyc', ['py/mod.pyc']],
  ['app.log', 'default rule logs: *.log', ['app.log']],
  ['app.log.1', 'default rule logs: *.log.N', ['app.log.1']],
  ['logs', 'default rule logs: logs/', ['logs/other.log']],
  ['dist', 'default rule generated: dist/', ['dist/bundle.js']],
  ['build', 'default rule generated: build/', ['build/out.o']],
  ['node_modules', 'default rule generated: node_modules/', ['node_modules/pkg/index.js']],
  ['coverage', 'default rule generated: coverage/', ['coverage/lcov.info']],
  ['old/archive', 'default rule archive: **/archive/**', ['old/archive/2024.tar']],
  ['data.bak', 'source rule: *.bak', ['data.bak']],
];

describe.skipIf(!services)('exclusion rules: plan and backup agree', () => {
  let stack: Stack;
  let source: string;

  beforeAll(async () => {
    // The config file names the source, so the tree exists before the stack (and under /tmp,
    // which the relative `tmp/` rule must leave alone).
    source = await mkdtemp(path.join(os.tmpdir(), 'fleet-backup-excl-'));
    for (const [rel, body] of Object.entries(TREE)) {
      await mkdir(path.dirname(path.join(source, rel)), { recursive: true });
      await writeFile(path.join(source, rel), body);
    }
    const hosts = {
      [HOST]: { sources: [{ path: source, include: ['logs/audit.log'], exclude: ['*.bak'] }] },
    };
    stack = await createStack(services!, 'excl', { hosts });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(source, { recursive: true, force: true });
  });

  it('plan --json lists what is taken and what is skipped, with the rule and sizes, without Redis', async () => {
    // The configuration comes from the catalog (Postgres); Redis is not needed.
    const offline = { REDIS_URL: 'redis://127.0.0.1:1' };
    const run = await stack.cli(['plan', '--host', HOST, '--json'], offline);
    expect(run.code, run.stderr).toBe(0);
    const plan = JSON.parse(run.stdout);
    const abs = (rel: string) => path.join(source, rel);
    expect(plan.sources).toEqual([source]);
    expect(plan.taken).toEqual(TAKEN.map((r) => ({ path: abs(r), size: size(r) })).sort(byPath));
    const expected = SKIPPED.map(([rel, rule, files]) => ({
      path: abs(rel),
      reason: `excluded by ${rule}`,
      dir: files.length !== 1 || files[0] !== rel,
      size: files.reduce((n, f) => n + size(f), 0),
      files: files.length,
    }));
    expect([...plan.skipped].sort(byPath)).toEqual(expected.sort(byPath));
    const skippedFiles = SKIPPED.flatMap(([, , files]) => files);
    expect(plan.totals).toEqual({
      takenFiles: TAKEN.length,
      takenBytes: TAKEN.reduce((n, r) => n + size(r), 0),
      skippedFiles: skippedFiles.length,
      skippedBytes: skippedFiles.reduce((n, r) => n + size(r), 0),
    });
    // Every file of the tree is accounted for exactly once.
    expect([...TAKEN, ...skippedFiles].sort()).toEqual(Object.keys(TREE).sort());

    const text = await stack.cli(['plan', '--host', HOST], offline);
    expect(text.stdout).toContain('excluded by default rule logs: *.log');
    expect(text.stdout).toMatch(/take 4 files, \d+ bytes; skip 18 files/);
  });

  it('a real backup holds exactly the planned files', async () => {
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    const run = await stack.cli(manualBackup(HOST, 'exclusions', [source], '--wait', '--json'));
    expect(run.code, run.stderr).toBe(0);
    const backup = JSON.parse(run.stdout);
    expect(backup.status).toBe('verified');
    const rel = source.slice(1);
    expect(await listFiles(path.join(stack.backupRoot, backup.key))).toEqual(
      [
        `${rel}/keep.txt.bak`,
        `${rel}/etc/app.conf.config`,
        `${rel}/sub/deep/data.json.bak`,
        `${rel}/logs/audit.log.bak`,
      ].sort(),
    );
    const show = JSON.parse((await stack.cli(['show', backup.id, '--json'])).stdout);
    expect(JSON.stringify(show)).toContain('excluded by default rule generated: node_modules/');
  }, 180_000);
});

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
