import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { Targets } from '@fleet-backup/runtime';
import { MANIFEST_FORMAT, type StorageTarget } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import {
  type Captured,
  captureTree,
  loadAccounts,
  type Published,
  publishBackup,
  putRawManifest,
} from '../support/restore-fixture.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'safety-host';
const OTHER = 'safety-other';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A manifest is untrusted input, and so are the catalog's rows: a crafted list is refused as a
 * whole, with the reason, before anything is written (fs target and S3). Generated items stay out
 * of a restored tree unless named. Backups are named by key with --host in restore, show and drill.
 */
describe.skipIf(!services)('restore refuses crafted lists and keeps generated items out', () => {
  let stack: Stack;
  let emu: Emulators;
  let targets: Record<'second' | 's3', StorageTarget>;
  let captured: Captured;
  let backup: Published;
  let twin: Published;

  const restore = (args: string[]) => stack.cli(['restore', ...args]);
  const empty = async (dir: string) => expect(await readdir(dir).catch(() => [])).toEqual([]);

  beforeAll(async () => {
    emu = await startEmulators('restore-safety');
    stack = await createStack(services!, 'restore-safety', {
      targets: emu.targets().filter((t) => t.name === 's3'),
    });
    const config = loadConfig(stack.env);
    const t = new Targets(config.targets);
    targets = { second: t.get('second'), s3: t.get('s3') };
    const src = path.join(stack.iso.dir, 'src');
    await mkdir(path.join(src, 'app/zoo'), { recursive: true });
    await writeFile(path.join(src, 'app/zoo/a.txt'), 'first\n');
    await writeFile(path.join(src, 'app/settings.conf'), 'port = 8080\n');
    await loadAccounts();
    captured = await captureTree(src);
    // The agent's generated items sit at the top of a backup, beside the host's own paths.
    for (const name of ['environment.config', 'environment.secrets.config', 'dependencies.config']) {
      const bytes = Buffer.from(`# ${name}\nAPI_TOKEN=s3cr3t\n`);
      captured.files.push({
        abs: Buffer.from(`/${name}`),
        bytes,
        row: {
          path: name,
          storedPath: `${name}.config`,
          cls: 'config',
          size: bytes.length,
          sha256: sha(bytes.toString()),
          hasWal: null,
          encrypted: null,
          attrs: null,
          pathBytes: null,
        },
      });
    }
    const publish = (host: string) =>
      publishBackup(stack.iso.pool, {
        host,
        backupRoot: stack.backupRoot,
        targets: [targets.second, targets.s3],
        captured,
        description: 'safety',
      });
    backup = await publish(HOST);
    twin = await publish(OTHER);
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
    await emu?.stop();
  });

  describe('a crafted manifest is refused whole, naming the reason', () => {
    const file = (p: string, text = 'x') => ({ path: p, size: Buffer.byteLength(text), sha256: sha(text) });
    const attrs = { mode: 0o755, uid: 0, gid: 0, owner: null, group: null, mtimeNs: '0' };
    const manifest = (key: string, files: Record<string, unknown>, nodes?: Record<string, unknown>) =>
      JSON.stringify({
        format: MANIFEST_FORMAT,
        host: HOST,
        kind: 'manual',
        key,
        created: '2026-01-01T00:00:00.000Z',
        files,
        ...(nodes && { nodes }),
        entry: {},
      });
    let n = 0;
    const cases: [string, (key: string) => string, RegExp][] = [
      [
        'two entries for one stored path (a duplicate JSON key)',
        (key) =>
          manifest(key, {}).replace(
            '"files":{}',
            `"files":{"srv/a.bak":${JSON.stringify(file('srv/a'))},"srv/a.bak":${JSON.stringify(file('etc/cron.d/evil'))}}`,
          ),
        /"srv\/a\.bak" appears twice/,
      ],
      [
        'two entries for one path',
        (key) => manifest(key, { 'srv/a.bak': file('srv/a', 'good'), 'srv/a.config': file('srv/a', 'evil') }),
        /two entries for "srv\/a" \(the second would overwrite the first\)/,
      ],
      ['a ".." path', (key) => manifest(key, { 'x.bak': file('srv/../../etc/passwd') }), /".." component/],
      ['an absolute path', (key) => manifest(key, { 'x.bak': file('/etc/passwd') }), /absolute path/],
      ['a NUL byte', (key) => manifest(key, { 'x.bak': file('srv/a\u0000b') }), /NUL/],
      ['a newline', (key) => manifest(key, { 'x.bak': file('srv/x\n/etc') }), /control character/],
      ['a lone surrogate', (key) => manifest(key, { 'x.bak': file('srv/\ud800') }), /well-formed Unicode/],
      [
        'names equal once NFC-normalised',
        (key) => manifest(key, { 'a.bak': file('srv/caf\u00e9'), 'b.bak': file('srv/cafe\u0301') }),
        /one name once Unicode-normalised/,
      ],
      ['a negative size', (key) => manifest(key, { 'x.bak': { ...file('srv/x'), size: -1 } }), /size/],
      ['a malformed hash', (key) => manifest(key, { 'x.bak': { ...file('srv/x'), sha256: 'ab' } }), /sha256/],
      [
        'a file beneath a symlink',
        (key) =>
          manifest(
            key,
            { 'x.bak': file('srv/link/passwd') },
            { 'srv/link': { type: 'symlink', target: '/etc', attrs } },
          ),
        /lies beneath "srv\/link", which is a symlink/,
      ],
      [
        'a directory where a file is',
        (key) => manifest(key, { 'x.bak': file('srv/x') }, { 'srv/x': { type: 'dir', attrs } }),
        /listed both as a file and as a directory/,
      ],
      [
        'a symlink target holding NUL',
        (key) => manifest(key, {}, { 'srv/l': { type: 'symlink', target: 'a\u0000b', attrs } }),
        /NUL/,
      ],
    ];
    for (const target of ['second', 's3'] as const) {
      it.each(cases)(`on ${target}: %s`, async (_, make, reason) => {
        const key = `20260101_0000_crafted-${++n}`;
        await putRawManifest(targets[target], HOST, key, make(key));
        const to = path.join(stack.iso.dir, `crafted-${n}`);
        const run = await restore(['--target', target, '--host', HOST, '--backup', key, '--to', to]);
        expect(run.code).toBe(1);
        expect(run.stderr).toMatch(reason);
        await empty(to);
      });
    }
  });

  it('refuses crafted catalog rows the same way (rows are input too)', async () => {
    await stack.iso.pool.query(
      `INSERT INTO backup_files (backup_id, path, stored_path, class, size, sha256)
       VALUES ($1, 'srv/caf\u00e9', 'srv/a1.bak', 'general', 1, $2), ($1, 'srv/cafe\u0301', 'srv/a2.bak', 'general', 1, $2)`,
      [twin.id, sha('x')],
    );
    const to = path.join(stack.iso.dir, 'crafted-rows');
    const run = await restore([twin.id, '--to', to, '--from', 'local']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/refusing to restore backup safety-other\/.*one name once Unicode-normalised/);
    await empty(to);
    await stack.iso.pool.query(
      "DELETE FROM backup_files WHERE backup_id = $1 AND stored_path LIKE 'srv/a_.bak'",
      [twin.id],
    );
  });

  describe('generated items', () => {
    const generated = ['environment.config', 'environment.secrets.config', 'dependencies.config'];

    it.each(['local', 'second'])(
      'stay out of a full restore from %s, which says how to get them',
      async (from) => {
        const to = path.join(stack.iso.dir, `gen-${from}`);
        const run = await restore([backup.id, '--to', to, '--from', from]);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stderr).toMatch(
          /left out the generated item\(s\) dependencies\.config, environment\.config, environment\.secrets\.config; .*restore one by name, e\.g\. --file \/dependencies\.config/,
        );
        for (const name of generated) await expect(readFile(path.join(to, name))).rejects.toThrow(/ENOENT/);
        expect((await readdir(to)).length).toBe(1);
      },
    );

    it('stay out of a bucket-only restore too', async () => {
      const to = path.join(stack.iso.dir, 'gen-bucket');
      const run = await restore([
        '--target',
        's3',
        '--host',
        HOST,
        '--backup',
        backup.key,
        '--to',
        to,
        '--json',
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout).withheld.sort()).toEqual([...generated].sort());
      for (const name of generated) await expect(readFile(path.join(to, name))).rejects.toThrow(/ENOENT/);
    });

    it('come back when --file names them', async () => {
      const to = path.join(stack.iso.dir, 'gen-named');
      const run = await restore([backup.id, '--to', to, '--file', '/environment.secrets.config']);
      expect(run.code, run.stderr).toBe(0);
      expect(await readdir(to)).toEqual(['environment.secrets.config']);
    });
  });

  describe('a backup named by its key', () => {
    it('show, restore and drill take a key with --host', async () => {
      expect(twin.key).toBe(backup.key);
      const shown = await stack.cli(['show', backup.key, '--host', OTHER, '--json']);
      expect(shown.code, shown.stderr).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ id: twin.id, host: OTHER, key: twin.key });
      const to = path.join(stack.iso.dir, 'by-key');
      const run = await restore([backup.key, '--host', HOST, '--to', to, '--json']);
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ id: backup.id, host: HOST });
      const drill = await stack.cli([
        'drill',
        '--host',
        HOST,
        '--backup',
        backup.key,
        '--from',
        'second',
        '--json',
      ]);
      expect(drill.code, drill.stderr).toBe(0);
      expect(JSON.parse(drill.stdout)).toMatchObject({ backupId: backup.id, ok: true });
    });

    it('a key that several hosts have needs --host; a key or id not on the host is not found', async () => {
      const ambiguous = await stack.cli(['show', backup.key]);
      expect(ambiguous.code).toBe(2);
      expect(ambiguous.stderr).toContain(
        `key ${backup.key} names backups on several hosts (${HOST}, ${OTHER}); add --host`,
      );
      const restoreAmbiguous = await restore([backup.key, '--to', path.join(stack.iso.dir, 'x')]);
      expect(restoreAmbiguous.stderr).toMatch(/add --host/);
      const missing = await stack.cli(['show', '20200101', '--host', HOST]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toMatch(/no backup 20200101 of host safety-host/);
      const wrongHost = await stack.cli(['show', backup.id, '--host', OTHER]);
      expect(wrongHost.code).toBe(3);
      const drill = await stack.cli(['drill', '--host', HOST, '--backup', '20200101']);
      expect(drill.code).toBe(3);
    });
  });

  it('refuses through the CLI to follow a symlink planted inside --to', async () => {
    const to = path.join(stack.iso.dir, 'planted');
    const outside = path.join(stack.iso.dir, 'outside');
    await mkdir(outside, { recursive: true });
    const zoo = path.join(to, captured.files[0]!.row.path, '..');
    await mkdir(path.dirname(zoo), { recursive: true });
    await symlink(outside, zoo);
    const run = await restore([backup.id, '--to', to, '--force']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${zoo} is a symlink (to ${outside})`);
    expect(await readdir(outside)).toEqual([]);
  });
});
