import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, runCli } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'exit-host';
// Configured, so the producer registers it, but no agent ever runs for it.
const IDLE = 'idle-host';

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('exit codes without services: usage (2) and help (0)', () => {
  const env = { DATABASE_URL: 'postgres://root@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1' };

  it('an unknown flag is a usage error naming the flag', async () => {
    const run = await runCli(['list', '--bogus'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("unknown option '--bogus'");
    expect(run.stderr).toContain('fleet-backup list --help');
  });

  it('an unknown command, a missing argument or option, and a flag without its partner are usage errors', async () => {
    expect((await runCli(['bogus'], env)).code).toBe(2);
    expect((await runCli(['show'], env)).code).toBe(2);
    expect((await runCli(['backup', '--host', 'h'], env)).code).toBe(2);
    const check = await runCli(
      ['backup', '--host', 'h', '--kind', 'manual', '--path', '/srv', '--check'],
      env,
    );
    expect(check.code).toBe(2);
    expect(check.stderr).toContain('--check goes with --wait');
  });

  it('--help and `help COMMAND` exit 0, any depth, and the top level lists the exit codes', async () => {
    const top = await runCli(['--help'], env);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*\n {2}4 .*\n {2}5 /);
    const nested = await runCli(['help', 'tokens', 'create'], env);
    expect(nested.code).toBe(0);
    expect(nested.stdout).toContain('Usage: fleet-backup tokens create');
    expect(nested.stdout).toMatch(/Examples?:\n {2}fleet-backup tokens create/);
  });

  it('Postgres down: exit 5 naming it, host and port only', async () => {
    const port = await closedPort();
    const run = await runCli(['list'], { DATABASE_URL: `postgres://root:s3cret@127.0.0.1:${port}/fleet` });
    expect(run.code, run.stderr).toBe(5);
    expect(run.stderr).toContain(`Postgres at 127.0.0.1:${port} is unreachable`);
    expect(run.stderr).not.toContain('s3cret');
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe.skipIf(!services)(
  'exit codes against a stack: not found (3), unsafe (4), unreachable Redis (5), failed (1)',
  () => {
    let stack: Stack;
    let source: string;

    beforeAll(async () => {
      // No target: a backup has only its local copy, which is never 3-2-1.
      stack = await createStack(services!, 'cli-exit', {
        fsTarget: false,
        hosts: { [IDLE]: { sources: [{ path: '/srv/idle' }] } },
      });
      source = path.join(stack.iso.dir, 'src');
      await mkdir(source, { recursive: true });
      await writeFile(path.join(source, 'a.txt'), 'a\n');
      await stack.start(['producer'], { FLEET_BACKUP_DEV: '1' });
      await stack.start(['worker']);
      await stack.start(['agent', '--host', HOST]);
    }, 120_000);
    afterAll(() => stack?.stop());

    it('a backup that does not exist: 3', async () => {
      const run = await stack.cli(['show', '00000000-0000-4000-8000-000000000000']);
      expect(run.code, run.stderr).toBe(3);
      expect(
        (
          await stack.cli([
            'backup',
            '--host',
            'nobody',
            '--kind',
            'manual',
            '--purpose',
            'x',
            '--retention',
            'permanent',
            '--path',
            '/srv',
          ])
        ).code,
      ).toBe(3);
    });

    it('a backup with only the local copy verifies (0) but is unsafe under --check (4), in backup and show', async () => {
      const plain = await stack.cli(manualBackup(HOST, 'local only', [source], '--wait', '--json'));
      expect(plain.code, plain.stderr).toBe(0);
      const result = JSON.parse(plain.stdout);
      expect(result).toMatchObject({ status: 'verified' });
      expect(result.compliance).toMatch(/^3-2-1: no/);

      const checked = await stack.cli(
        manualBackup(HOST, 'local only checked', [source], '--wait', '--check'),
      );
      expect(checked.code, checked.stderr).toBe(4);
      expect(checked.stdout).toMatch(/ verified\n$/);
      expect(checked.stderr).toMatch(/verified but is unsafe: 3-2-1: no \(2 copies, 1 kind, 0 offsite\)/);

      const show = await stack.cli(['show', result.id, '--check']);
      expect(show.code, show.stderr).toBe(4);
      expect(show.stdout).toContain('3-2-1: no');
      expect(show.stderr).toContain('is unsafe: 3-2-1: no');
      expect((await stack.cli(['show', result.id])).code).toBe(0);
    });

    it('a restore from a target the config lacks: 2, naming the configured ones', async () => {
      const run = await stack.cli([
        ...['restore', '--target', 'nowhere', '--host', HOST, '--backup', '20260101'],
        ...['--to', path.join(stack.iso.dir, 'restored')],
      ]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(
        '--target must be a target of FLEET_BACKUP_CONFIG (none; a saved `config show --json`), got nowhere',
      );
      expect(run.stderr).not.toMatch(/\n\s+at /);
    });

    it('a backup still running at --timeout: 1', async () => {
      const run = await stack.cli([
        ...[
          'backup',
          '--host',
          IDLE,
          '--kind',
          'manual',
          '--purpose',
          'no agent',
          '--retention',
          'days_1',
          '--path',
          '/srv/idle',
        ],
        ...['--wait', '--timeout', '1'],
      ]);
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain('still running after 1s');
    });

    it('Redis down: 5 instead of waiting forever', async () => {
      const port = await closedPort();
      const started = Date.now();
      const run = await stack.cli(manualBackup(HOST, 'no redis', [source]), {
        REDIS_URL: `redis://:hunter2@127.0.0.1:${port}`,
      });
      expect(run.code, run.stderr).toBe(5);
      expect(run.stderr).toContain(`Redis at 127.0.0.1:${port} is unreachable (ECONNREFUSED)`);
      expect(run.stderr).not.toContain('hunter2');
      expect(Date.now() - started).toBeLessThan(30_000);
    });

    it('restore needs no Redis: it works in a Redis outage (exit 0)', async () => {
      const backup = JSON.parse(
        (await stack.cli(manualBackup(HOST, 'for restore', [source], '--wait', '--json'))).stdout,
      );
      const port = await closedPort();
      const run = await stack.cli(['restore', backup.id, '--to', path.join(stack.iso.dir, 'restored')], {
        REDIS_URL: `redis://127.0.0.1:${port}`,
      });
      expect(run.code, run.stderr).toBe(0);
    });
  },
);
