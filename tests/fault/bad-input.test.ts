import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { systemClock } from '@fleet-backup/core';
import { BackupStore } from '@fleet-backup/db';
import { hostQueueName } from '@fleet-backup/queue';
import { describeBackup } from '@fleet-backup/runtime';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoleProcess } from '../support/cli.ts';
import {
  backupAndWait,
  hashTree,
  listBackups,
  QueueProbe,
  type ShowView,
  show,
  type WaitedBackup,
} from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';
import { listFiles, writeLarge } from '../support/tree.ts';

const run = promisify(execFile);
const services = await serviceUrls();

/** The main host: its agent may read only under the test's directory. */
const H = 'bad-main';
/** Its agent runs as the unprivileged user nobody, so file permissions apply. */
const H_RO = 'bad-nobody';
/** Its BACKUP_ROOT is a small tmpfs. */
const H_FULL = 'bad-full';
const MiB = 1024 * 1024;
const NOBODY = 65534;

interface Good {
  id: string;
  key: string;
  root: string;
  view: ShowView;
  files: Record<string, string>;
}

describe.skipIf(!services)('bad input fails at once, says what is wrong, and harms nothing', () => {
  let stack: Stack;
  let probe: QueueProbe;
  let store: BackupStore;
  let dir: string;
  let data: string;
  let roRoot: string;
  let fullRoot: string;
  let localOnlyConfig: string;
  let mounted = false;
  const agents: Record<string, RoleProcess> = {};
  let worker: RoleProcess;
  const goods: Record<string, Good> = {};

  const manual = (host: string, description: string, ...paths: string[]) => [
    '--host',
    host,
    '--kind',
    'manual',
    '--purpose',
    'fault test',
    '--retention',
    'permanent',
    '--description',
    description,
    ...paths.flatMap((p) => ['--path', p]),
  ];
  /** The nobody agent's host has no targets: its agent could not write the shared fs target. */
  const roEnv = () => ({ FLEET_BACKUP_CONFIG: localOnlyConfig });

  async function record(host: string, root: string, w: WaitedBackup): Promise<void> {
    expect(w.run.code, w.run.stderr).toBe(0);
    const { id, key } = w.result!;
    goods[host] = { id, key, root, view: await view(id), files: await hashTree(path.join(root, key)) };
  }

  /** The backup as `show --json` renders it, built in-process from the same rows (cheap enough per case). */
  async function view(id: string): Promise<ShowView> {
    return JSON.parse(JSON.stringify(describeBackup(await store.detail(id))));
  }

  async function backupIds(): Promise<string[]> {
    return (await stack.iso.pool.query<{ id: string }>('SELECT id FROM backups ORDER BY id')).rows.map(
      (r) => r.id,
    );
  }

  /** Every backup made before the bad input: same rows and same bytes on disk; every role still up. */
  async function expectGoodsIntact(): Promise<void> {
    for (const good of Object.values(goods)) {
      expect(await view(good.id)).toEqual(good.view);
      expect(await hashTree(path.join(good.root, good.key))).toEqual(good.files);
    }
    for (const role of [worker, ...Object.values(agents)]) expect(role.alive, role.name).toBe(true);
  }

  /**
   * A backup that failed for good in its snapshot stage: the CLI says why, the stage ran once and
   * the job sits in the failed set after one attempt (out of the catalog's 5: only an
   * UnrecoverableError stops it there).
   */
  async function expectSnapshotFailed(w: WaitedBackup, host: string, pattern: RegExp): Promise<ShowView> {
    expect(w.run.code, w.run.stderr).toBe(1);
    expect(w.run.stderr).toMatch(pattern);
    expect(w.result).toMatchObject({ status: 'failed' });
    expect(w.result?.reason).toMatch(pattern);
    const job = await probe.waitForState(hostQueueName(host), `${w.result!.id}.snapshot`, ['failed']);
    expect(job.opts.attempts).toBe(5);
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(pattern);
    const v = await view(w.result!.id);
    expect(v.status).toBe('failed');
    const [snapshot, ...rest] = v.stages;
    expect(snapshot).toMatchObject({ stage: 'snapshot', status: 'failed', attempts: 1 });
    expect(snapshot?.error).toMatch(pattern);
    expect(rest.every((s) => s.status === 'pending' && s.attempts === 0)).toBe(true);
    return v;
  }

  beforeAll(async () => {
    // Real privilege drop and a real small filesystem: fail loudly here if this machine cannot.
    await run('setpriv', ['--version']);
    expect(process.getuid?.(), 'mount and setpriv need root').toBe(0);
    stack = await createStack(services!, 'bad-input');
    store = new BackupStore(stack.iso.pool, systemClock);
    probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
    dir = stack.iso.dir;
    // mkdtemp made it 0700; the nobody agent must reach its own folders inside.
    await chmod(dir, 0o755);
    const configFile = stack.env.FLEET_BACKUP_CONFIG!;
    const config = JSON.parse(await readFile(configFile, 'utf8'));
    await writeFile(configFile, JSON.stringify({ ...config, hosts: { [H]: { roots: [dir], sources: [] } } }));
    localOnlyConfig = path.join(dir, 'config-local.json');
    await writeFile(localOnlyConfig, JSON.stringify({ hosts: {}, targets: [] }));

    data = path.join(dir, 'data');
    await mkdir(path.join(data, 'good', 'etc'), { recursive: true });
    await writeFile(path.join(data, 'good', 'notes.txt'), 'keep me\n');
    await writeFile(path.join(data, 'good', 'etc', 'app.yaml'), 'port: 8080\n');
    await writeLarge(path.join(data, 'good', 'blob.bin'), MiB, 'good');
    await mkdir(path.join(data, 'linked'));
    await writeFile(path.join(data, 'secret.txt'), 'beside the requested folder, not in it\n');
    await writeFile(path.join(data, 'linked', 'real.txt'), 'real\n');
    await symlink('real.txt', path.join(data, 'linked', 'in'));
    await symlink('/etc/passwd', path.join(data, 'linked', 'out-abs'));
    await symlink('../secret.txt', path.join(data, 'linked', 'out-rel'));
    await symlink('/etc', path.join(data, 'escape'));

    roRoot = path.join(dir, 'backup-ro');
    for (const d of ['ro/good', 'ro/bad', 'ro/after']) await mkdir(path.join(dir, d), { recursive: true });
    await writeFile(path.join(dir, 'ro/good/ok.txt'), 'readable\n');
    await writeFile(path.join(dir, 'ro/bad/ok.txt'), 'readable\n');
    // Not named like a secret (`*.key`…): a sensitive file is skipped unread when no key is set.
    await writeFile(path.join(dir, 'ro/bad/locked.dat'), 'nobody may read this\n');
    await chmod(path.join(dir, 'ro/bad/locked.dat'), 0o000);
    await writeFile(path.join(dir, 'ro/after/ok.txt'), 'readable again\n');
    await mkdir(roRoot);
    await chown(roRoot, NOBODY, NOBODY);

    fullRoot = path.join(dir, 'backup-full');
    await mkdir(fullRoot);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', fullRoot]);
    mounted = true;
    for (const d of ['full/small', 'full/big', 'full/after'])
      await mkdir(path.join(dir, d), { recursive: true });
    await writeLarge(path.join(dir, 'full/small/small.bin'), MiB, 'small');
    await writeLarge(path.join(dir, 'full/big/big.bin'), 20 * MiB, 'big');
    await writeLarge(path.join(dir, 'full/after/after.bin'), 2 * MiB, 'after');

    // Postgres trusts local TCP users, but node-pg would log in as the OS user "nobody".
    const dbAsRoot = new URL(stack.env.DATABASE_URL!);
    dbAsRoot.username = 'root';
    [worker, agents[H], agents[H_RO], agents[H_FULL]] = await Promise.all([
      stack.start(['worker']),
      stack.start(['agent', '--host', H]),
      stack.start(
        ['agent', '--host', H_RO],
        { ...roEnv(), BACKUP_ROOT: roRoot, DATABASE_URL: dbAsRoot.toString() },
        { wrap: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups'] },
      ),
      stack.start(['agent', '--host', H_FULL], { BACKUP_ROOT: fullRoot }),
    ]);

    const [main, ro, full] = await Promise.all([
      backupAndWait(stack, manual(H, 'good', path.join(data, 'good'))),
      backupAndWait(stack, manual(H_RO, 'good', path.join(dir, 'ro/good')), roEnv()),
      backupAndWait(stack, manual(H_FULL, 'good', path.join(dir, 'full/small'))),
    ]);
    await record(H, stack.backupRoot, main);
    await record(H_RO, roRoot, ro);
    await record(H_FULL, fullRoot, full);
    expect(Object.values(goods).map((g) => g.view.status)).toEqual(['verified', 'verified', 'verified']);
  }, 120_000);

  afterAll(async () => {
    await probe?.close();
    if (stack) await Promise.all(stack.roles.map((r) => r.stop()));
    if (mounted) await run('umount', [fullRoot]).catch(() => run('umount', ['-l', fullRoot]));
    await stack?.stop();
  });

  it('rejects malformed requests with exit 2 and an unknown host with exit 3, naming the problem, enqueuing nothing', async () => {
    const before = await backupIds();
    const jobsBefore = await probe.queue(hostQueueName(H)).getJobCounts();
    const good = path.join(data, 'good');
    const cases: [string[], number, RegExp][] = [
      [
        ['--host', H, '--kind', 'manual', '--purpose', 'p'],
        2,
        /required option '--path <path>' not specified/,
      ],
      [manual(H, 'rel', 'data/good'), 2, /paths\.0: path data\/good is not absolute/],
      [manual(H, 'dots', '/x/../etc'), 2, /paths\.0: path \/x\/\.\.\/etc is not normalised/],
      [['--host', H, '--kind', 'weekly', '--path', good], 2, /kind: .*"daily"\|"pre_change"\|"manual"/],
      [
        [...manual(H, 'ret', good), '--retention', 'forever'],
        2,
        /retention: retention must be days_N, permanent or until_verified/,
      ],
      [['--host', H, '--kind', 'manual', '--path', good], 2, /purpose: a manual backup needs --purpose/],
      [
        ['--host', H, '--kind', 'manual', '--purpose', 'p', '--path', good],
        2,
        /retention: a manual backup needs --retention days_N or permanent/,
      ],
      [manual('no-such-host', 'x', good), 3, /unknown host no-such-host/],
    ];
    const runs = await Promise.all(cases.map(([args]) => stack.cli(['backup', ...args, '--json'])));
    runs.forEach((r, i) => {
      const [, code, message] = cases[i]!;
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // an operator's message, not a stack trace
      expect(r.stdout).toBe('');
    });
    expect((await listBackups(stack)).map((b) => b.id).sort()).toEqual(before);
    expect(await probe.queue(hostQueueName(H)).getJobCounts()).toEqual(jobsBefore);
    const unknown = await probe.queue(hostQueueName('no-such-host')).getJobCounts();
    expect(Object.values(unknown).every((n) => n === 0)).toBe(true);
    await expectGoodsIntact();
  });

  it('fails malformed, unknown and misrouted jobs at once, without retries, and the agents stay up', async () => {
    const main = goods[H]!;
    const cases: [queue: string, name: string, data: unknown, id: string, reason: RegExp][] = [
      [
        hostQueueName(H),
        'snapshot',
        { backupId: 'nope' },
        'bad-payload',
        /malformed snapshot payload: backupId: .*host: /,
      ],
      [hostQueueName(H), 'frobnicate', { backupId: main.id }, 'bad-name', /no handler for job "frobnicate"/],
      // Valid ids but an unexpected field: must not touch the finished backup it names.
      [
        hostQueueName(H),
        'hash',
        { backupId: main.id, host: H, extra: 1 },
        'bad-extra',
        /malformed hash payload/,
      ],
      // H's backup sent to another host's agent: host work stays on its host.
      [
        hostQueueName(H_FULL),
        'snapshot',
        { backupId: main.id, host: H_FULL },
        'misrouted',
        /belongs to host bad-main, not to this agent \(bad-full\)/,
      ],
      // Well-formed, for a backup that does not exist.
      [
        hostQueueName(H),
        'replicate',
        { backupId: crypto.randomUUID(), host: H, target: 'second' },
        'no-backup',
        /backup [0-9a-f-]{36} does not exist/,
      ],
    ];
    for (const [queue, name, payload, jobId] of cases) {
      await probe
        .queue(queue)
        .add(name, payload, { jobId, attempts: 5, backoff: { type: 'fixed', delay: 100 } });
    }
    for (const [queue, , , jobId, reason] of cases) {
      const job = await probe.waitForState(queue, jobId, ['failed']);
      expect(job.attemptsMade, jobId).toBe(1);
      expect(job.failedReason, jobId).toMatch(reason);
    }
    await expectGoodsIntact();
  });

  describe('paths the agent must refuse, trim, or cannot copy', () => {
    const runs: Record<string, Promise<WaitedBackup>> = {};
    const secret = () => path.join(dir, 'ro/bad/locked.dat');

    afterEach(() => expectGoodsIntact());

    beforeAll(() => {
      // All at once: each is its own backup, and CLI start-up dominates on this 2-core machine.
      const cases: Record<string, [string, string, Record<string, string>?]> = {
        outside: [H, '/etc'],
        escape: [H, path.join(data, 'escape')],
        links: [H, path.join(data, 'linked')],
        recursive: [H, path.join(stack.backupRoot, goods[H]!.key)],
        missing: [H, path.join(data, 'not-there')],
        unreadable: [H_RO, path.join(dir, 'ro/bad'), roEnv()],
        tooBig: [H_FULL, path.join(dir, 'full/big')],
      };
      for (const [name, [host, p, env]] of Object.entries(cases)) {
        runs[name] = backupAndWait(stack, manual(host, name, p), env);
      }
    });

    it('fails a path outside the agent roots, named directly or through a symlinked folder', async () => {
      const direct = await runs.outside!;
      const viaLink = await runs.escape!;
      await expectSnapshotFailed(
        direct,
        H,
        new RegExp(`path /etc resolves to /etc, outside the roots this agent may read \\(${dir}\\)`),
      );
      await expectSnapshotFailed(viaLink, H, /escape resolves to \/etc, outside the roots/);
      for (const w of [direct, viaLink]) {
        expect(await listFiles(path.join(stack.backupRoot, w.result!.key)).catch(() => [])).toEqual([]);
      }
    });

    it('records symlinks as symlinks with their targets, never followed, and copies nothing through them', async () => {
      const w = await runs.links!;
      expect(w.run.code, w.run.stderr).toBe(0);
      const v = await show(stack, w.result!.id);
      expect(v.status).toBe('verified');
      const linked = path.join(data, 'linked');
      expect(v.skipped).toEqual([]);
      expect(v.files.map((f) => f.path)).toEqual([`${linked.slice(1)}/real.txt`]);
      const local = await hashTree(path.join(stack.backupRoot, w.result!.key));
      expect(Object.keys(local)).toEqual([`${linked.slice(1)}/real.txt.bak`]);
      const { nodes } = await store.detail(w.result!.id);
      expect(nodes.map((n) => [n.path, n.type, n.target])).toEqual([
        [linked.slice(1), 'dir', null],
        [`${linked.slice(1)}/in`, 'symlink', 'real.txt'],
        [`${linked.slice(1)}/out-abs`, 'symlink', '/etc/passwd'],
        [`${linked.slice(1)}/out-rel`, 'symlink', '../secret.txt'],
      ]);
    });

    it('refuses to back up the backup root', async () => {
      const inside = path.join(stack.backupRoot, goods[H]!.key);
      await expectSnapshotFailed(
        await runs.recursive!,
        H,
        new RegExp(
          `path ${inside} is inside the backup root ${stack.backupRoot}; backups never include backups`,
        ),
      );
    });

    it('fails a missing path, saying it does not exist', async () => {
      await expectSnapshotFailed(
        await runs.missing!,
        H,
        new RegExp(`path ${data}/not-there does not exist on this host`),
      );
    });

    it('fails an unreadable file with "permission denied", naming it (agent running as nobody)', async () => {
      await expectSnapshotFailed(
        await runs.unreadable!,
        H_RO,
        new RegExp(`cannot read ${secret()}: permission denied`),
      );
      expect((await listFiles(roRoot)).filter((f) => f.includes('.fbtmp-'))).toEqual([]);
    });

    it('fails a backup that does not fit with "disk full", leaving no temporary or partial file', async () => {
      await expectSnapshotFailed(
        await runs.tooBig!,
        H_FULL,
        /disk full: no space left to copy .*big\.bin into /,
      );
      const good = goods[H_FULL]!;
      // Only the earlier backup, its source index and the metadata file: no temporary file, no
      // half-copied file, no index of the failed one.
      expect(await listFiles(fullRoot)).toEqual(
        [
          'backup_metadata.json',
          `.fleet-backup/index/${good.key}`,
          ...Object.keys(good.files).map((f) => `${good.key}/${f}`),
        ].sort(),
      );
    });
  });

  it('leaves every earlier backup as it was, and every agent alive and able to back up again', async () => {
    await expectGoodsIntact();
    const [shown, after] = await Promise.all([
      show(stack, goods[H]!.id),
      Promise.all([
        backupAndWait(stack, manual(H, 'after', path.join(data, 'good'))),
        backupAndWait(stack, manual(H_RO, 'after', path.join(dir, 'ro/after')), roEnv()),
        // Fits once the failed copy's space is back.
        backupAndWait(stack, manual(H_FULL, 'after', path.join(dir, 'full/after'))),
      ]),
    ]);
    expect(shown).toEqual(goods[H]!.view);
    for (const w of after) {
      expect(w.run.code, w.run.stderr).toBe(0);
      expect(w.result?.status).toBe('verified');
    }
    await expectGoodsIntact();
  });
});
