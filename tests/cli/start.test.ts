import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { type Isolated, isolate, serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoleProcess, runCli, waitFor } from '../support/cli.ts';

const services = await serviceUrls();
const HOST = 'start-host';

/** A path quoted for a shell, as start must print one holding a space or a quote. */
const quoted = (p: string) => `'${p.replaceAll("'", `'\\''`)}'`;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

/**
 * `npm start` as a new user runs it: the embedded defaults, nothing configured. Its sample holds a
 * secret (app/.env), which warned "SENSITIVE FILE SKIPPED" on the very first run; a restart after
 * the day's daily printed "backing up … as <today>" when nothing was backed up.
 */
describe.skipIf(!services)('start on the embedded defaults: the first ten minutes', () => {
  let iso: Isolated;
  let env: Record<string, string>;
  let keyFile: string;
  let backupId = '';
  const running: RoleProcess[] = [];
  const start = () => {
    const role = new RoleProcess(['start'], env);
    running.push(role);
    return role;
  };

  beforeAll(async () => {
    iso = await isolate(services!, 'start');
    // A space in the data directory: the manual-backup command start prints must quote it.
    const dataDir = path.join(iso.dir, "var dir's");
    keyFile = path.join(dataDir, 'demo-encryption.key');
    env = {
      REDIS_URL: iso.redisUrl,
      DATABASE_URL: iso.databaseUrl,
      QUEUE_PREFIX: iso.queuePrefix,
      DATA_DIR: dataDir,
      FLEET_BACKUP_HOST: HOST,
      FLEET_BACKUP_CONFIG: '',
      ENCRYPTION_KEY: '',
      ENCRYPTION_KEY_FILE: '',
      PORT: String(await freePort()),
      LOG_LEVEL: 'info',
    };
  });
  afterAll(async () => {
    for (const role of running) await role.stop();
    await iso?.cleanup();
  });

  it('backs up the sample with its secret encrypted by a demo key it names, and no warning', async () => {
    const role = start();
    await role.waitForLog(/backing up .+ as \d{8} \(id [0-9a-f-]{36}\)/);
    backupId = /backing up .+ as \d{8} \(id ([0-9a-f-]{36})\)/.exec(role.log)?.[1] ?? '';
    expect(role.log).toContain(`encrypted with a DEMO key kept in ${keyFile}`);
    expect(role.log).toContain(`other processes need ENCRYPTION_KEY_FILE=${quoted(keyFile)} to restore them`);
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const shown = await waitFor(
      async () => {
        const run = await runCli(['show', backupId, '--json'], env);
        const backup = JSON.parse(run.stdout || '{}');
        return backup.status === 'verified' ? backup : null;
      },
      { timeoutMs: 120_000, what: 'the sample backup to be verified', detail: () => role.log.slice(-3000) },
    );
    const secret = (shown.files as { path: string; encrypted: unknown }[]).find((f) =>
      f.path.endsWith('/app/.env'),
    );
    expect(secret?.encrypted).toBeTruthy();
    expect(role.log).not.toContain('SENSITIVE FILE SKIPPED');
    // Its output is piped here, not a terminal: JSON lines for a collector, not pretty ones.
    expect(role.log).toMatch(/^\{"level":30,.*"msg":"worker ready"/m);
    expect(await role.stop()).toBe(0);
  }, 180_000);

  it("restarted after today's daily, says it is done and backs up nothing; the demo key stays", async () => {
    const key = await readFile(keyFile, 'utf8');
    const role = start();
    await role.waitForLog(new RegExp(`today's daily \\d{8} \\(id ${backupId}\\) is done \\(verified\\)`));
    expect(role.log).not.toContain('backing up');
    const sample = path.join(env.DATA_DIR as string, 'sample');
    expect(role.log).toContain(
      `for one now: npx fleet-backup backup --host ${HOST} --kind manual --purpose WHY --path ${quoted(sample)}`,
    );
    expect(await readFile(keyFile, 'utf8')).toBe(key);
    expect(await role.stop()).toBe(0);
  }, 120_000);

  it('a second terminal sees what start uses: plan answers, a manual backup fans out to every stand-in', async () => {
    const role = start();
    await role.waitForLog(/today's daily/);
    const sample = path.join(env.DATA_DIR as string, 'sample');
    const plan = await runCli(['plan', '--host', HOST, '--json'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).taken.map((f: { path: string }) => f.path)).toContain(
      path.join(sample, 'etc', 'app.yaml'),
    );
    const backup = await runCli(
      [
        'backup',
        '--host',
        HOST,
        '--kind',
        'manual',
        '--purpose',
        'second terminal',
        '--retention',
        'days_7',
      ].concat(['--path', path.join(sample, 'etc'), '--wait', '--timeout', '90', '--json']),
      env,
    );
    expect(backup.code, backup.stderr).toBe(0);
    const shown = JSON.parse((await runCli(['show', JSON.parse(backup.stdout).id, '--json'], env)).stdout);
    expect(shown.copies.map((c: { target: string; status: string }) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['gcs-standin', 'verified'],
      ['s3-standin', 'verified'],
      ['second', 'verified'],
    ]);
    // Planned with the version start applied; restarts on the same ports applied no other.
    const history = JSON.parse((await runCli(['config', 'history', '--json'], env)).stdout);
    expect(history).toMatchObject([{ version: 1, origin: 'embedded' }]);
    expect(shown.config_version).toBe(1);
    expect(await role.stop()).toBe(0);
  }, 180_000);

  it('runs beside another installation on the same Redis and Postgres, as the README says', async () => {
    // Its own database, queue prefix, port and data directory; the first keeps running meanwhile.
    const first = start();
    await first.waitForLog(/today's daily/);
    const other = await isolate(services!, 'start-beside');
    try {
      const besideEnv = {
        ...env,
        DATABASE_URL: other.databaseUrl,
        QUEUE_PREFIX: other.queuePrefix,
        DATA_DIR: path.join(other.dir, 'var'),
        PORT: String(await freePort()),
      };
      const beside = new RoleProcess(['start'], besideEnv);
      running.push(beside);
      await beside.waitForLog(/backing up .+ as \d{8} \(id [0-9a-f-]{36}\)/);
      const id = /as \d{8} \(id ([0-9a-f-]{36})\)/.exec(beside.log)?.[1] ?? '';
      await waitFor(
        async () =>
          JSON.parse((await runCli(['show', id, '--json'], besideEnv)).stdout || '{}').status === 'verified',
        {
          timeoutMs: 120_000,
          what: 'the second installation to verify its backup',
          detail: () => beside.log.slice(-3000),
        },
      );
      // Neither sees the other's backups.
      expect((await runCli(['show', id, '--json'], env)).code).not.toBe(0);
      expect(await beside.stop()).toBe(0);
      expect(first.alive).toBe(true);
    } finally {
      await other.cleanup();
    }
  }, 180_000);
});
