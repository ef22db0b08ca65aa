import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MAX_MANIFESTS } from '@fleet-backup/capture';
import { dependenciesSchema } from '@fleet-backup/config';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildDependencies, DEPENDENCIES_HEADER } from './dependencies.ts';

interface DocRecord {
  header: Record<string, unknown>;
  body: Buffer;
}

/** The reader the format documents: a JSON header line, `bytes` bytes of body, a newline. */
function parse(doc: Buffer): DocRecord[] {
  let at = doc.indexOf('\n') + 1;
  expect(doc.subarray(0, at).toString()).toBe(DEPENDENCIES_HEADER);
  const out: DocRecord[] = [];
  while (at < doc.length) {
    const eol = doc.indexOf('\n', at);
    const header = JSON.parse(doc.subarray(at, eol).toString()) as Record<string, unknown>;
    const bytes = header.bytes as number;
    out.push({ header, body: doc.subarray(eol + 1, eol + 1 + bytes) });
    expect(doc[eol + 1 + bytes]).toBe(0x0a);
    at = eol + 2 + bytes;
  }
  return out;
}

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const node = process.execPath;

describe('buildDependencies', () => {
  let dir: string;
  let app: string;
  let work: string;
  let limits: { allowedRoots: string[]; backupRoot: string };
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fb-deps-'));
    app = path.join(dir, 'srv', 'app');
    work = path.join(dir, 'backup', '.staging', 'k');
    await mkdir(work, { recursive: true });
    await mkdir(path.join(app, 'node_modules', 'dep'), { recursive: true });
    limits = { allowedRoots: [path.join(dir, 'srv')], backupRoot: path.join(dir, 'backup') };
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function build(
    partial: (typeof dependenciesSchema)['_zod']['input'],
    signal = new AbortController().signal,
  ) {
    const config = dependenciesSchema.parse(partial);
    const out = path.join(work, 'dependencies.config');
    const summary = await buildDependencies(config, limits, work, out, signal);
    return { summary, records: parse(await readFile(out)), out };
  }

  it('embeds manifests with size and sha256, expands globs past node_modules, and records what is missing', async () => {
    const pkg = '{"name":"app","dependencies":{"dep":"1.0.0"}}\n';
    const lock = 'line with\nnewlines and {"json": true}\n';
    await writeFile(path.join(app, 'package.json'), pkg);
    await writeFile(path.join(app, 'package-lock.json'), lock);
    await writeFile(path.join(app, 'node_modules', 'dep', 'package.json'), '{"name":"dep"}');
    const { records, summary } = await build({
      manifests: [`${app}/*.json`, `${dir}/srv/**/package.json`, `${app}/go.sum`, `${app}/*.lock`],
    });
    expect(records.map((r) => r.header)).toEqual([
      { record: 'manifest', path: `${app}/*.lock`, error: 'no file matches', bytes: 0 },
      { record: 'manifest', path: `${app}/go.sum`, error: 'not found', bytes: 0 },
      {
        record: 'manifest',
        path: `${app}/package-lock.json`,
        size: lock.length,
        sha256: sha(lock),
        truncated: false,
        bytes: lock.length,
      },
      {
        record: 'manifest',
        path: `${app}/package.json`,
        size: pkg.length,
        sha256: sha(pkg),
        truncated: false,
        bytes: pkg.length,
      },
    ]);
    expect(records[2]?.body.toString()).toBe(lock);
    expect(records[3]?.body.toString()).toBe(pkg);
    expect(summary.manifests.map((m) => m.path)).toEqual([`${app}/package-lock.json`, `${app}/package.json`]);
    expect(summary.problems).toHaveLength(2);
    // Only the document is left behind: the parts are gone.
    expect(await readdir(work)).toEqual(['dependencies.config']);
  });

  it('never reads a manifest outside the roots (also through a symlink), in the backup root, or sensitive', async () => {
    const outside = path.join(dir, 'etc', 'shadow.json');
    await mkdir(path.dirname(outside), { recursive: true });
    await writeFile(outside, 'SECRET-CONTENT');
    await symlink(outside, path.join(app, 'linked.json'));
    await writeFile(path.join(app, '.env'), 'APP_TOKEN=SECRET-CONTENT');
    await writeFile(path.join(dir, 'backup', 'x.json'), 'SECRET-CONTENT');
    const { records, out } = await build({
      manifests: [outside, `${app}/linked.json`, `${app}/.env`, `${dir}/backup/x.json`],
    });
    const errors = Object.fromEntries(records.map((r) => [r.header.path, r.header.error]));
    expect(errors[outside]).toMatch(/outside the roots this agent may read/);
    expect(errors[`${app}/linked.json`]).toMatch(/outside the roots/);
    expect(errors[`${app}/.env`]).toMatch(/sensitive-file glob \.env/);
    expect(errors[`${dir}/backup/x.json`]).toMatch(/outside the roots|never backed up/);
    expect((await readFile(out)).toString()).not.toContain('SECRET-CONTENT');
  });

  it('records at most MAX_MANIFESTS manifests, and says the rest were left out', async () => {
    const many = path.join(app, 'many');
    await mkdir(many);
    for (let i = 0; i <= MAX_MANIFESTS; i++) await writeFile(path.join(many, `${1000 + i}.lock`), `${i}`);
    const { summary } = await build({ manifests: [`${many}/*.lock`] });
    expect(summary.manifests).toHaveLength(MAX_MANIFESTS);
    expect(summary.problems).toEqual([
      { path: `${many}/${1000 + MAX_MANIFESTS}.lock`, error: expect.stringMatching(/narrow the globs/) },
    ]);
  });

  it('keeps the first maxManifestBytes of a large manifest, with the whole file size and hash', async () => {
    const big = 'x'.repeat(5000);
    await writeFile(path.join(app, 'requirements.txt'), big);
    const { records } = await build({ manifests: [`${app}/requirements.txt`], maxManifestBytes: 1024 });
    expect(records[0]?.header).toMatchObject({ size: 5000, sha256: sha(big), truncated: true, bytes: 1024 });
    expect(records[0]?.body.toString()).toBe(big.slice(0, 1024));
  });

  it("records each command's output and exit status, in order, without a shell", async () => {
    const { records, summary } = await build({
      commands: [
        { name: 'node-version', argv: [node, '--version'] },
        {
          name: 'fails',
          argv: [node, '-e', 'process.stdout.write("partial"); console.error("boom"); process.exit(3)'],
        },
        { name: 'missing', argv: ['fleet-backup-no-such-command', '--list'] },
        { name: 'no-shell', argv: ['echo', '$HOME; rm -rf /'] },
        { name: 'in-cwd', argv: [node, '-e', 'console.log(process.cwd())'], cwd: app },
      ],
    });
    const [version, fails, missing, noShell, inCwd] = records;
    expect(version?.header).toMatchObject({
      record: 'command',
      name: 'node-version',
      exitCode: 0,
      error: null,
    });
    expect(version?.body.toString()).toBe(`${process.version}\n`);
    expect(fails?.header).toMatchObject({ exitCode: 3, stderr: 'boom\n', timedOut: false, truncated: false });
    expect(fails?.body.toString()).toBe('partial');
    expect(missing?.header).toMatchObject({ exitCode: null, bytes: 0 });
    expect(missing?.header.error).toMatch(/ENOENT/);
    expect(noShell?.body.toString()).toBe('$HOME; rm -rf /\n');
    expect(inCwd?.body.toString()).toBe(`${app}\n`);
    expect(summary.commands.map((c) => c.name)).toEqual([
      'node-version',
      'fails',
      'missing',
      'no-shell',
      'in-cwd',
    ]);
  });

  it('keeps the output of commands that exit at once (Node drops what nobody reads before the exit)', async () => {
    const commands = Array.from({ length: 30 }, (_, i) => ({
      name: `echo-${i}`,
      argv: ['echo', `out ${i}`],
    }));
    const { records } = await build({ commands });
    expect(records.map((r) => r.body.toString())).toEqual(commands.map((_, i) => `out ${i}\n`));
  });

  it('records a missing working directory as the reason, not the program', async () => {
    const { records } = await build({
      commands: [{ name: 'npm-ls', argv: ['npm', 'ls'], cwd: `${app}/gone` }],
    });
    expect(records[0]?.header).toMatchObject({
      exitCode: null,
      error: `working directory ${app}/gone is not a directory`,
    });
  });

  it('gives a command none of the agent environment but PATH, HOME and LC_ALL', async () => {
    process.env.FLEET_TEST_API_TOKEN = 'agent-secret-value';
    try {
      const { records } = await build({
        commands: [
          { name: 'env', argv: [node, '-e', 'console.log(Object.keys(process.env).sort().join(","))'] },
        ],
      });
      expect(records[0]?.body.toString().trim().split(',')).toEqual(
        expect.arrayContaining(['LC_ALL', 'PATH']),
      );
      expect(records[0]?.body.toString()).not.toContain('FLEET_TEST_API_TOKEN');
    } finally {
      delete process.env.FLEET_TEST_API_TOKEN;
    }
  });

  it('kills a command at its timeout, with the children it started, and keeps its output so far', async () => {
    const started = performance.now();
    const { records } = await build({
      commands: [
        {
          name: 'hangs',
          argv: ['sh', '-c', 'echo started; sleep 30 & sleep 30'],
          timeoutSeconds: 1,
        },
      ],
    });
    expect(performance.now() - started).toBeLessThan(6_000);
    expect(records[0]?.header).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGTERM' });
    expect(records[0]?.body.toString()).toBe('started\n');
  });

  it('cuts output at maxOutputBytes and stops the command, memory bounded', async () => {
    const started = performance.now();
    const { records, summary } = await build({
      commands: [{ name: 'endless', argv: ['yes', 'a line of output'], maxOutputBytes: 4096 }],
    });
    expect(performance.now() - started).toBeLessThan(6_000);
    expect(records[0]?.header).toMatchObject({ truncated: true, timedOut: false, bytes: 4096 });
    expect(records[0]?.body.toString()).toMatch(/^(a line of output\n)+a line/);
    expect(summary.commands[0]).toMatchObject({ truncated: true, outputBytes: 4096 });
  });

  it('stops on abort: the backup is being cancelled', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(new Error('cancelled')), 200);
    await expect(
      build({ commands: [{ name: 'slow', argv: ['sleep', '30'] }] }, abort.signal),
    ).rejects.toThrow('cancelled');
  });
});
