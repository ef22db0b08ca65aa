import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, manualBackup } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { writeLarge } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'secrets-host';

// Unique per run, so finding one anywhere can only mean it leaked.
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const PEM = `-----BEGIN PRIVATE KEY-----\n${randomBytes(24).toString('base64')}\n-----END PRIVATE KEY-----\n`;
const PEM_BODY = PEM.split('\n')[1]!;
const VAULT = `vault-${randomBytes(16).toString('hex')}`;
const DB_SECRET = `dbsecret-${randomBytes(16).toString('hex')}`;
const SECRETS = [TOKEN, PEM_BODY, VAULT, DB_SECRET];

const keyOf = (id: string) => {
  const b64 = randomBytes(32).toString('base64');
  return { id, b64, spec: `${id}:${b64}` };
};
const KEY = keyOf('k2026');
const NEXT_KEY = keyOf('k2027');
const WITH_KEY = { ENCRYPTION_KEY: KEY.spec };

interface Shown {
  id: string;
  key: string;
  status: string;
  files: { path: string; sha256: string; size: number; stored: string; encrypted?: { key: string } }[];
  skipped: { path: string; reason: string }[];
}

/** Every regular file under dir, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

/** The files under the dirs whose raw bytes contain any of the values. */
async function leaks(dirs: string[], values: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const dir of dirs) {
    for (const file of await filesUnder(dir)) {
      const bytes = await readFile(file);
      for (const v of values)
        if (bytes.includes(Buffer.from(v))) found.push(`${file} holds ${v.slice(0, 12)}…`);
    }
  }
  return found;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!services)('sensitive items: encrypted on the agent, never in the clear', () => {
  let stack: Stack;
  let emu: Emulators;
  let source: string;
  const outputs: CliResult[] = [];
  /** Where bytes of backups land: the local copies, the fs target, both emulators' storage. */
  let storageDirs: string[];

  const cli = async (args: string[], env: Record<string, string> = {}) => {
    const run = await stack.cli(args, env);
    outputs.push(run);
    return run;
  };
  const show = async (id: string): Promise<Shown> => JSON.parse((await cli(['show', id, '--json'])).stdout);
  const backup = async (description: string) => {
    const run = await cli(manualBackup(HOST, description, [source], '--wait', '--json'));
    expect(run.code, run.stderr).toBe(0);
    return show(JSON.parse(run.stdout).id);
  };
  const plain = (rel: string) => readFile(path.join(source, rel));
  /**
   * Every source file but config.yaml is sensitive, including the `-wal` / `-shm` that SQLite may
   * leave beside secrets.db (sensitive with their database).
   */
  const sensitiveOnDisk = async () =>
    (await filesUnder(source))
      .map((f) => path.relative(source, f))
      .filter((f) => f !== 'app/config.yaml')
      .sort();

  beforeAll(async () => {
    emu = await startEmulators('secrets');
    // The source lives in the stack's own directory, known only once the stack exists.
    stack = await createStack(services!, 'secrets', {
      targets: emu.targets(),
      hosts: { [HOST]: { sources: [{ path: '/set-below', sensitive: ['*.vault'] }] } },
    });
    source = path.join(stack.iso.dir, 'src');
    await setHostSource(stack, source);
    await mkdir(path.join(source, 'app'), { recursive: true });
    await mkdir(path.join(source, 'tls'), { recursive: true });
    await writeFile(path.join(source, 'app', 'api.token'), `${TOKEN}\n`);
    await writeFile(path.join(source, 'tls', 'server.pem'), PEM);
    await writeFile(path.join(source, 'app', 'db.vault'), `password=${VAULT}\n`);
    await writeFile(path.join(source, 'app', 'config.yaml'), 'port: 8080\n');
    // Several read buffers: the stream format across chunk boundaries, on every copy.
    await writeLarge(path.join(source, 'app', 'secret-blob.bin'), 3 * 1024 * 1024 + 17, 'secret-blob');
    const db = new DatabaseSync(path.join(source, 'app', 'secrets.db'));
    db.exec(`PRAGMA journal_mode=WAL; CREATE TABLE s (v TEXT); INSERT INTO s VALUES ('${DB_SECRET}');`);
    db.close();
    // Both emulators keep their bytes under one temporary directory: <it>/s3/<bucket>/<key>, <it>/gcs/….
    const emulatorRoot = path.resolve(emu.s3.objectPath(emu.bucket, 'probe'), '../../..');
    storageDirs = [stack.backupRoot, stack.secondDir, emulatorRoot];
    await stack.start(['producer']);
    await stack.start(['worker']);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  describe('with a key', () => {
    let shown: Shown;

    beforeAll(async () => {
      // Only the agent holds the key: verify reads ciphertext blobs and needs none.
      await stack.start(['agent', '--host', HOST], WITH_KEY);
      shown = await backup('with-key');
    }, 180_000);

    it('plan says which files are stored encrypted, with which key', async () => {
      const run = await cli(['plan', '--host', HOST], WITH_KEY);
      expect(run.code, run.stderr).toBe(0);
      for (const f of ['app/api.token', 'tls/server.pem', 'app/db.vault', 'app/secrets.db']) {
        expect(run.stdout).toMatch(
          new RegExp(`${f.replace('.', '\\.')}\\s+\\d+\\s+encrypted \\(key k2026\\)`),
        );
      }
      expect(run.stdout).toMatch(/app\/config\.yaml\s+\d+\s+as is/);
      expect(run.stdout).not.toContain('SKIPPED sensitive');
    });

    it('is verified on every copy, with sensitive files encrypted under the key id', () => {
      expect(shown.status).toBe('verified');
      const encrypted = Object.fromEntries(
        shown.files.map((f) => [path.posix.basename(f.path), f.encrypted?.key]),
      );
      expect(encrypted).toEqual({
        'api.token': 'k2026',
        'server.pem': 'k2026',
        'db.vault': 'k2026',
        'secret-blob.bin': 'k2026',
        'secrets.db': 'k2026',
        'config.yaml': undefined,
      });
    });

    it('show says which files are stored encrypted, and with which key', async () => {
      const text = (await cli(['show', shown.id])).stdout;
      expect(text).toMatch(/api\.token +general +\d+ +[0-9a-f]{16} +encrypted \(key k2026\)\n/);
      expect(text).toMatch(/config\.yaml +config +\d+ +[0-9a-f]{16} +plain\n/);
    });

    it('never puts a secret in the clear in BACKUP_ROOT, on the fs target, in S3 or in GCS', async () => {
      expect(await leaks(storageDirs, SECRETS)).toEqual([]);
      // The grep does find what is stored as is, so its silence above means something.
      for (const dir of storageDirs) expect(await leaks([dir], ['port: 8080']), dir).not.toEqual([]);
      const token = shown.files.find((f) => f.path.endsWith('api.token'))!;
      const stored = await readFile(path.join(stack.backupRoot, shown.key, token.stored));
      expect(stored.subarray(0, 5).toString()).toBe('FBENC');
    });

    it("keeps the plaintext's sha256 and size in the metadata", async () => {
      const metadata = JSON.parse(
        await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8'),
      );
      const entry = metadata.manual[shown.key];
      for (const rel of ['app/api.token', 'tls/server.pem', 'app/db.vault', 'app/secret-blob.bin']) {
        const bytes = await plain(rel);
        expect(entry.files[path.join(source, rel).slice(1)]).toEqual({
          size: bytes.length,
          hash: sha256(bytes),
        });
      }
    });

    it('blob gc keeps the encrypted blobs: they are referenced by their ciphertext address', async () => {
      // No grace period (set below): an encrypted blob looked up by its plaintext sha256 would go.
      for (const args of [
        ['gc', '--json'],
        ['gc', '--scan', '--json'],
      ]) {
        const run = await cli(args);
        expect(run.code, run.stderr).toBe(0);
        const report = JSON.parse(run.stdout) as {
          targets: { target: string; deleted: number; examined: number }[];
        };
        for (const t of report.targets) {
          // A scan lists blobs of their own; these are all in packs, which Postgres knows.
          if (!args.includes('--scan')) expect(t.examined, t.target).toBeGreaterThan(0);
          expect(t.deleted, `${args.join(' ')} on ${t.target}`).toBe(0);
        }
      }
    });

    it.each(['local', 's3', 'gcs', 'second'])(
      'restores the plaintext byte for byte from %s with the key',
      async (from) => {
        const to = path.join(stack.iso.dir, `restore-${from}`);
        const run = await cli(['restore', shown.id, '--to', to, '--from', from, '--json'], WITH_KEY);
        expect(run.code, run.stderr).toBe(0);
        await expectPlaintext(to);
      },
    );

    it('restores from a bucket alone (no Postgres): the manifest names blob and key', async () => {
      const to = path.join(stack.iso.dir, 'restore-bucket');
      const run = await cli(
        ['restore', '--target', 'gcs', '--host', HOST, '--backup', shown.key, '--to', to],
        { ...WITH_KEY, DATABASE_URL: 'postgres://127.0.0.1:1/none' },
      );
      expect(run.code, run.stderr).toBe(0);
      await expectPlaintext(to);
    });

    it('still restores after a key rotation, with the old key among ENCRYPTION_OLD_KEYS', async () => {
      const to = path.join(stack.iso.dir, 'restore-rotated');
      const run = await cli(['restore', shown.id, '--to', to, '--from', 's3'], {
        ENCRYPTION_KEY: NEXT_KEY.spec,
        ENCRYPTION_OLD_KEYS: KEY.spec,
      });
      expect(run.code, run.stderr).toBe(0);
      await expectPlaintext(to);
    });

    it('refuses to restore without the key, naming the key id and the files, writing nothing', async () => {
      const to = path.join(stack.iso.dir, 'restore-nokey');
      const run = await cli(['restore', shown.id, '--to', to, '--from', 'second']);
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/without encryption key k2026/);
      expect(run.stderr).toContain('app/api.token (key k2026)');
      expect(await filesUnder(to)).toEqual([]);
    });

    it('refuses a wrong key of the same id: the tag does not check', async () => {
      const to = path.join(stack.iso.dir, 'restore-wrongkey');
      const wrong = keyOf('k2026');
      const run = await cli(
        ['restore', shown.id, '--to', to, '--from', 'local', '--file', `${source}/app/api.token`],
        {
          ENCRYPTION_KEY: wrong.spec,
        },
      );
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/cannot decrypt .*api\.token: authentication failed with key k2026/);
      expect(await filesUnder(to)).toEqual([]);
    });

    async function expectPlaintext(to: string): Promise<void> {
      for (const rel of [
        'app/api.token',
        'tls/server.pem',
        'app/db.vault',
        'app/config.yaml',
        'app/secret-blob.bin',
      ]) {
        expect((await readFile(path.join(to, source.slice(1), rel))).equals(await plain(rel)), rel).toBe(
          true,
        );
      }
      const db = new DatabaseSync(path.join(to, source.slice(1), 'app', 'secrets.db'), { readOnly: true });
      try {
        expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
        expect(db.prepare('SELECT v FROM s').get()).toEqual({ v: DB_SECRET });
      } finally {
        db.close();
      }
    }
  });

  describe('without a key', () => {
    let shown: Shown;
    let agentLog: () => string;

    beforeAll(async () => {
      await Promise.all(stack.roles.filter((r) => r.name.startsWith('agent')).map((r) => r.stop()));
      const agent = await stack.start(['agent', '--host', HOST]);
      agentLog = () => agent.log;
      shown = await backup('no-key');
    }, 180_000);

    it('copies nothing sensitive, and records each as skipped with the reason', async () => {
      expect(shown.status).toBe('verified');
      expect(shown.files.map((f) => path.posix.basename(f.path))).toEqual(['config.yaml']);
      const skipped = shown.skipped.filter((s) =>
        s.reason.startsWith('sensitive, no encryption key configured:'),
      );
      expect(skipped.map((s) => path.posix.relative(source, s.path)).sort()).toEqual(await sensitiveOnDisk());
      expect(await filesUnder(path.join(stack.backupRoot, shown.key))).toHaveLength(1);
      expect(await leaks(storageDirs, SECRETS)).toEqual([]);
    });

    it('warns loudly in the agent log, by path only', () => {
      const warnings = agentLog()
        .split('\n')
        .filter((l) => l.includes('SENSITIVE FILE SKIPPED'));
      expect(warnings.some((l) => l.includes('app/api.token') && l.includes('"level":40'))).toBe(true);
    });

    it('plan warns that sensitive files would be skipped', async () => {
      const run = await cli(['plan', '--host', HOST]);
      expect(run.code, run.stderr).toBe(0);
      const count = (await sensitiveOnDisk()).length;
      expect(run.stdout).toContain(`WARNING: ${count} SKIPPED sensitive file(s)`);
      expect(run.stdout).toContain(`SKIPPED sensitive: ${source}/app/api.token`);
      const json = JSON.parse((await cli(['plan', '--host', HOST, '--json'])).stdout);
      expect(json.encryptionKey).toBeNull();
      expect(json.taken.map((f: { path: string }) => f.path)).toEqual([`${source}/app/config.yaml`]);
    });

    it('report lists the skipped sensitive items with host, backup and path', async () => {
      const run = await cli(['report']);
      expect(run.code, run.stderr).toBe(0);
      const count = (await sensitiveOnDisk()).length;
      expect(run.stdout).toMatch(
        new RegExp(`sensitive items skipped \\(no encryption key\\).*\\(${count}\\)`),
      );
      expect(run.stdout).toMatch(
        new RegExp(`${HOST}\\s+manual\\s+${shown.key}\\s+${source}/app/api\\.token`),
      );
      const json = JSON.parse((await cli(['report', '--json'])).stdout);
      expect(json.sensitiveSkipped.total).toBe(count);
    });
  });

  it('never logs a secret value or the key, in any process', () => {
    const logs = [...stack.roles.map((r) => r.log), ...outputs.flatMap((o) => [o.stdout, o.stderr])].join(
      '\n',
    );
    for (const v of [...SECRETS, KEY.b64, NEXT_KEY.b64]) expect(logs.includes(v), v.slice(0, 12)).toBe(false);
  });
});

/** Points the host's configured source at `source`, before any process reads the config. */
async function setHostSource(stack: Stack, source: string): Promise<void> {
  const file = stack.env.FLEET_BACKUP_CONFIG!;
  const config = JSON.parse(await readFile(file, 'utf8'));
  config.hosts[HOST].sources[0].path = source;
  config.lifecycle = { blobGraceHours: 0 };
  await writeFile(file, JSON.stringify(config));
}
