import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hostMetadataSchema } from '@fleet-backup/core';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, manualBackup, type RoleProcess } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'state-host';

// Unique per run, so finding one anywhere can only mean it leaked.
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const DB_PASSWORD = `pw-${randomBytes(16).toString('hex')}`;
const SECRETS = [TOKEN, DB_PASSWORD];
const KEY = `k1:${randomBytes(32).toString('base64')}`;

/** The agent's environment: what the allowlist takes, what it leaves, and two secrets. */
const AGENT_ENV = {
  NODE_ENV: 'production',
  FBE2E_MODE: 'blue',
  FBE2E_MOTD: 'two\nlines \\ here',
  FBE2E_API_TOKEN: TOKEN,
  FBE2E_DB_URL: `postgres://app:${DB_PASSWORD}@db:5432/app`,
  OTHER_SETTING: 'not allowed',
};
const ENVIRONMENT_DOC =
  '# fleet-backup environment v1: one NAME=value per line, sorted by name; in a value \\\\ is a backslash, \\n a newline, \\r a carriage return\n' +
  'FBE2E_MODE=blue\nFBE2E_MOTD=two\\nlines \\\\ here\nNODE_ENV=production\n';

const PACKAGE_JSON = '{"name":"state-app","version":"1.2.3","dependencies":{"left-pad":"1.3.0"}}\n';
const LOCKFILE =
  '{"name":"state-app","lockfileVersion":3,"packages":{"node_modules/left-pad":{"version":"1.3.0"}}}\n';

interface Shown {
  id: string;
  key: string;
  status: string;
  files: { path: string; sha256: string; size: number; stored: string }[];
  skipped: { path: string; reason: string }[];
}

/** Every regular file under dir, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The files under the dirs whose raw bytes contain one of the values. */
async function leaks(dirs: string[], values = SECRETS): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    for (const file of await filesUnder(dir)) {
      const bytes = await readFile(file);
      for (const v of values)
        if (bytes.includes(Buffer.from(v))) found.push(`${file} holds ${v.slice(0, 8)}…`);
    }
  }
  return found;
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** dependencies.config's records: one JSON header line, `bytes` bytes of body, a newline. */
function records(doc: Buffer): { header: Record<string, unknown>; body: string }[] {
  const out: { header: Record<string, unknown>; body: string }[] = [];
  for (let at = doc.indexOf('\n') + 1; at < doc.length; ) {
    const eol = doc.indexOf('\n', at);
    const header = JSON.parse(doc.subarray(at, eol).toString()) as Record<string, unknown>;
    const end = eol + 1 + (header.bytes as number);
    out.push({ header, body: doc.subarray(eol + 1, end).toString() });
    at = end + 1;
  }
  return out;
}

describe.skipIf(!services)('system state: environment.config and dependencies.config', () => {
  let stack: Stack;
  let source: string;
  let agent: RoleProcess;
  const outputs: CliResult[] = [];
  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const run = await stack.cli(args, env);
    outputs.push(run);
    return run;
  };
  const show = async (id: string): Promise<Shown> => JSON.parse((await cli(['show', id, '--json'])).stdout);
  const backup = async (description: string, paths: string[]) => {
    const run = await cli(manualBackup(HOST, description, paths, '--wait', '--json'));
    expect(run.code, run.stderr).toBe(0);
    return show(JSON.parse(run.stdout).id);
  };

  beforeAll(async () => {
    // The config file names the source, so the tree exists before the stack does.
    const base = path.join(os.tmpdir(), `fleet-backup-state-${randomBytes(4).toString('hex')}`);
    source = path.join(base, 'app');
    await mkdir(source, { recursive: true });
    await writeFile(path.join(source, 'package.json'), PACKAGE_JSON);
    await writeFile(path.join(source, 'package-lock.json'), LOCKFILE);
    await writeFile(path.join(source, 'server.js'), 'console.log("hi")\n');
    const hosts = {
      [HOST]: {
        sources: [{ path: source }],
        environment: { allow: ['FBE2E_*', 'NODE_ENV'] },
        dependencies: {
          manifests: [`${source}/package*.json`, `${source}/requirements.txt`],
          commands: [
            { name: 'node-version', argv: [process.execPath, '--version'] },
            { name: 'dpkg', argv: ['dpkg-query', '-W'] },
            { name: 'not-installed', argv: ['fleet-backup-no-such-tool', '--list'] },
          ],
        },
      },
    };
    stack = await createStack(services!, 'state', { hosts });
    await stack.start(['producer']);
    await stack.start(['worker']);
    agent = await stack.start(['agent', '--host', HOST], { ...AGENT_ENV, ENCRYPTION_KEY: KEY });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    if (source) await rm(path.dirname(source), { recursive: true, force: true });
  });

  let shown: Shown;

  it('plan lists the generated items by variable name, manifests and commands, never a value', async () => {
    const run = await cli(['plan', '--host', HOST, '--json'], { ...AGENT_ENV, ENCRYPTION_KEY: KEY });
    expect(run.code, run.stderr).toBe(0);
    const { systemState } = JSON.parse(run.stdout);
    expect(systemState.environment).toMatchObject({
      item: 'environment.config',
      names: ['FBE2E_MODE', 'FBE2E_MOTD', 'NODE_ENV'],
      size: Buffer.byteLength(ENVIRONMENT_DOC),
      secretItem: 'environment.secrets.config',
      secretNames: ['FBE2E_API_TOKEN', 'FBE2E_DB_URL'],
      secretEncryptedWith: 'k1',
    });
    expect(systemState.dependencies.manifests).toEqual([
      { path: `${source}/package-lock.json`, size: LOCKFILE.length },
      { path: `${source}/package.json`, size: PACKAGE_JSON.length },
    ]);
    expect(systemState.dependencies.problems).toEqual([
      { path: `${source}/requirements.txt`, error: 'not found' },
    ]);
    expect(systemState.dependencies.commands.map((c: { name: string }) => c.name)).toEqual([
      'node-version',
      'dpkg',
      'not-installed',
    ]);
    const text = await cli(['plan', '--host', HOST], AGENT_ENV);
    expect(text.stdout).toContain('generate environment.config');
    expect(text.stdout).toMatch(/environment\.secrets\.config .*SKIPPED.*: FBE2E_API_TOKEN, FBE2E_DB_URL/);
  });

  it('a backup of the host sources holds environment.config and dependencies.config, stored under their own names', async () => {
    shown = await backup('state', [source]);
    expect(shown.status).toBe('verified');
    const byPath = Object.fromEntries(shown.files.map((f) => [f.path, f]));
    expect(byPath['environment.config']?.stored).toBe('environment.config');
    expect(byPath['dependencies.config']?.stored).toBe('dependencies.config');
    expect(byPath['environment.secrets.config']?.stored).toBe('environment.secrets.config');
    const dir = path.join(stack.backupRoot, shown.key);
    const env = await readFile(path.join(dir, 'environment.config'), 'utf8');
    expect(env).toBe(ENVIRONMENT_DOC);
    expect(byPath['environment.config']?.sha256).toBe(sha256(env));
    // The staging directory is gone, and nothing of it was taken for a backup.
    expect(await readdir(path.join(stack.backupRoot, '.staging'))).toEqual([]);
  }, 120_000);

  it('dependencies.config holds the manifests, a real command output and the failed command', async () => {
    const doc = await readFile(path.join(stack.backupRoot, shown.key, 'dependencies.config'));
    const recs = records(doc);
    const manifest = (p: string) => recs.find((r) => r.header.record === 'manifest' && r.header.path === p);
    expect(manifest(`${source}/package.json`)).toMatchObject({
      header: { size: PACKAGE_JSON.length, sha256: sha256(PACKAGE_JSON), truncated: false },
      body: PACKAGE_JSON,
    });
    expect(manifest(`${source}/package-lock.json`)?.body).toBe(LOCKFILE);
    expect(manifest(`${source}/requirements.txt`)?.header.error).toBe('not found');
    const command = (n: string) => recs.find((r) => r.header.record === 'command' && r.header.name === n);
    expect(command('node-version')).toMatchObject({ header: { exitCode: 0 }, body: `${process.version}\n` });
    expect(command('dpkg')?.header.exitCode).toBe(0);
    expect(command('dpkg')?.body).toMatch(/^dpkg\t\S+$/m);
    expect(command('not-installed')?.header).toMatchObject({
      exitCode: null,
      error: expect.stringMatching(/ENOENT/),
    });
    expect(agent.log).toMatch(/"command":"not-installed".*dependency command did not finish cleanly/);
  });

  it('keeps the backup_metadata.json entry valid against the seed schema', async () => {
    const onHost = JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8'));
    const entry = hostMetadataSchema.parse(onHost).manual[shown.key];
    expect(Object.keys(entry?.files ?? {})).toEqual(
      expect.arrayContaining(['environment.config', 'dependencies.config', 'environment.secrets.config']),
    );
    expect(entry?.files['environment.config']).toEqual({
      size: Buffer.byteLength(ENVIRONMENT_DOC),
      hash: sha256(ENVIRONMENT_DOC),
    });
  });

  it('a full restore leaves them out: the secrets never land in the clear unless named', async () => {
    const to = path.join(stack.iso.dir, 'restore-all');
    const run = await cli(['restore', shown.id, '--to', to, '--from', 'second', '--json'], {
      ENCRYPTION_KEY: KEY,
    });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).withheld.sort()).toEqual([
      'dependencies.config',
      'environment.config',
      'environment.secrets.config',
    ]);
    expect(await leaks([to])).toEqual([]);
    await rm(to, { recursive: true });
  });

  it('restores them by name, the secret variables only with the key', async () => {
    const to = path.join(stack.iso.dir, 'restore-state');
    const named = ['/environment.config', '/dependencies.config', '/environment.secrets.config'];
    const run = await cli(
      ['restore', shown.id, '--to', to, '--from', 'second', '--json', ...named.flatMap((f) => ['--file', f])],
      { ENCRYPTION_KEY: KEY },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(await readFile(path.join(to, 'environment.config'), 'utf8')).toBe(ENVIRONMENT_DOC);
    const deps = await readFile(path.join(to, 'dependencies.config'));
    expect(deps.equals(await readFile(path.join(stack.backupRoot, shown.key, 'dependencies.config')))).toBe(
      true,
    );
    const secrets = await readFile(path.join(to, 'environment.secrets.config'), 'utf8');
    expect(secrets).toContain(`FBE2E_API_TOKEN=${TOKEN}\n`);
    expect(secrets).toContain(`FBE2E_DB_URL=postgres://app:${DB_PASSWORD}@db:5432/app\n`);
    await rm(to, { recursive: true });
  });

  it('a backup of a single file captures no system state', async () => {
    const single = await backup('one-file', [path.join(source, 'server.js')]);
    expect(single.files.map((f) => f.path)).toEqual([`${source.slice(1)}/server.js`]);
  }, 120_000);

  it('without a key, the secret item is skipped loudly and the rest is still captured', async () => {
    await agent.stop();
    agent = await stack.start(['agent', '--host', HOST], AGENT_ENV);
    const unkeyed = await backup('no-key', [source]);
    expect(unkeyed.status).toBe('verified');
    expect(unkeyed.files.map((f) => f.path)).toEqual(
      expect.arrayContaining(['environment.config', 'dependencies.config']),
    );
    expect(unkeyed.files.map((f) => f.path)).not.toContain('environment.secrets.config');
    expect(unkeyed.skipped).toContainEqual({
      path: '/environment.secrets.config',
      reason: expect.any(String),
    });
  }, 120_000);

  it('never has a secret value in the clear: on any copy, in the staging area, in a log or CLI output', async () => {
    expect(await leaks([stack.backupRoot, stack.secondDir])).toEqual([]);
    // The same grep does find what is stored in the clear, so its silence above means something.
    expect(await leaks([stack.secondDir], ['FBE2E_MODE=blue'])).not.toEqual([]);
    const logs = [...stack.roles.map((r) => r.log), ...outputs.map((o) => o.stdout + o.stderr)].join('\n');
    for (const v of SECRETS) expect(logs).not.toContain(v);
  });
});
