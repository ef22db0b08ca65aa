/**
 * Sealed targets (issue 14): every object on S3 and GCS sealed client-side, and what a thief of
 * the bucket learns from it. The stand-ins also enforce the agents' create-only credential.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, makeTree } from '../support/tree.ts';

const services = await serviceUrls();
const HOST = 'sealed-host';
const KEY1 = `k1:${randomBytes(32).toString('base64')}`;
const KEY2 = `k2:${randomBytes(32).toString('base64')}`;
const MARKER = `payroll-${randomBytes(6).toString('hex')}`;

/** Every file under a directory, with its bytes. */
async function storedFiles(dir: string): Promise<{ path: string; bytes: Buffer }[]> {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ path: file, bytes: await readFile(file) });
  }
  return out;
}

describe.skipIf(!services)('sealed targets: S3 and GCS hold no plaintext, path or known sha256', () => {
  let stack: Stack;
  let emu: Emulators;
  let source: string;
  let shown: {
    id: string;
    key: string;
    status: string;
    copies: { target: string; status: string }[];
    files: { path: string; sha256: string }[];
  };

  beforeAll(async () => {
    emu = await startEmulators('sealed', { enforce: true, sealed: true });
    stack = await createStack(services!, 'sealed', { targets: emu.targets(), env: { ENCRYPTION_KEY: KEY1 } });
    source = path.join(stack.iso.dir, `src-${MARKER}`);
    await makeTree(source, { largeBytes: 2 * 1024 * 1024 });
    await writeFile(path.join(source, `${MARKER}.txt`), `${MARKER}: salaries of the board\n`.repeat(200));
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    const run = await stack.cli(manualBackup(HOST, 'sealed', [source], '--json', '--wait'));
    expect(run.code, run.stderr).toBe(0);
    shown = JSON.parse((await stack.cli(['show', JSON.parse(run.stdout).id, '--json'])).stdout);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  it('verifies every copy, and stores no byte of a file, a path or a known sha256 on either cloud', async () => {
    expect(shown.status).toBe('verified');
    expect(shown.copies.every((c) => c.status === 'verified')).toBe(true);
    const needles = [
      MARKER,
      'salaries of the board',
      path.basename(stack.iso.dir),
      ...shown.files.filter((f) => f.sha256).map((f) => f.sha256),
    ];
    const stored = await storedFiles(emu.dir);
    expect(
      stored.some((f) => f.path.includes(`${path.sep}keys${path.sep}`) || f.path.includes('keys%2F')),
    ).toBe(true);
    for (const f of stored) {
      for (const needle of needles) {
        expect(f.path.includes(needle), `${needle} in the name ${f.path}`).toBe(false);
        expect(f.bytes.includes(Buffer.from(needle)), `${needle} inside ${f.path}`).toBe(false);
      }
    }
  });

  it('says in show and report how each copy is stored', async () => {
    const copies = JSON.parse((await stack.cli(['show', shown.id, '--json'])).stdout).copies as {
      target: string;
      encryption: string;
    }[];
    expect(Object.fromEntries(copies.map((c) => [c.target, c.encryption]))).toEqual({
      local: 'none',
      second: 'none',
      s3: 'aes-256-gcm',
      gcs: 'aes-256-gcm',
    });
    const report = JSON.parse((await stack.cli(['report', '--json'])).stdout);
    expect(
      Object.fromEntries(
        report.storage.targets.map((t: { target: string; encryption: string }) => [t.target, t.encryption]),
      ),
    ).toEqual({ second: 'none', s3: 'aes-256-gcm', gcs: 'aes-256-gcm' });
  });

  it('restores byte for byte from each cloud', async () => {
    for (const from of ['s3', 'gcs']) {
      const to = path.join(stack.iso.dir, `restore-${from}`);
      const run = await stack.cli(['restore', shown.id, '--to', to, '--from', from, '--json']);
      expect(run.code, run.stderr).toBe(0);
      for (const f of await listFiles(source)) {
        const restored = await readFile(path.join(to, source.slice(1), f));
        expect(restored.equals(await readFile(path.join(source, f))), `${from}: ${f}`).toBe(true);
      }
    }
  });

  it('exports a recovery copy of the keys, which keys check proves opens the newest backup of each host', async () => {
    const file = path.join(stack.iso.dir, 'recovery.json');
    const exported = await stack.cli(['keys', 'export', '--out', file]);
    expect(exported.code, exported.stderr).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stack.cli(['keys', 'export', '--out', file])).code).toBe(2); // never overwritten
    // No Postgres and no ENCRYPTION_KEY: the recovery copy and the bucket are enough.
    const bare = { DATABASE_URL: 'postgres://root@127.0.0.1:1/none', ENCRYPTION_KEY: '' };
    for (const target of ['s3', 'gcs']) {
      const check = await stack.cli(
        ['keys', 'check', '--recovery', file, '--target', target, '--json'],
        bare,
      );
      expect(check.code, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({
        opens: true,
        hosts: [{ host: HOST, backup: shown.key }],
      });
    }
    const other = path.join(stack.iso.dir, 'other-recovery.json');
    const recovery = JSON.parse(await readFile(file, 'utf8'));
    await writeFile(other, JSON.stringify({ ...recovery, encryptionKeys: [KEY2] }));
    const wrong = await stack.cli(['keys', 'check', '--recovery', other, '--target', 's3'], bare);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/does not open/);
  });

  it('restores from the bucket and the key alone, Postgres gone, the key rotated since', async () => {
    const to = path.join(stack.iso.dir, 'restore-bucket-only');
    const run = await stack.cli(
      ['restore', '--target', 's3', '--host', HOST, '--backup', shown.key, '--to', to, '--json'],
      { DATABASE_URL: 'postgres://root@127.0.0.1:1/none', ENCRYPTION_KEY: KEY2, ENCRYPTION_OLD_KEYS: KEY1 },
    );
    expect(run.code, run.stderr).toBe(0);
    for (const f of await listFiles(source)) {
      const restored = await readFile(path.join(to, source.slice(1), f));
      expect(restored.equals(await readFile(path.join(source, f))), f).toBe(true);
    }
    // Without the key the bucket opens nothing, and says which key it needs.
    const keyless = await stack.cli(
      ['restore', '--target', 's3', '--host', HOST, '--backup', shown.key, '--to', `${to}-nokey`, '--json'],
      { DATABASE_URL: 'postgres://root@127.0.0.1:1/none', ENCRYPTION_KEY: KEY2 },
    );
    expect(keyless.code).not.toBe(0);
    expect(keyless.stderr).toMatch(/wrapped by encryption key\(s\) k1/);
  });
});
