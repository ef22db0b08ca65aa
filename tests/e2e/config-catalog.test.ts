import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { type Emulators, startEmulators } from '../support/emulators.ts';
import { backupAndWait, listBackups, QueueProbe, show } from '../support/fault.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'cfg-host';

/**
 * One configuration for the whole installation: a third process applies it, and a CLI and an
 * agent with no configuration of their own plan, describe and back up exactly by that version;
 * a source added by a later version is backed up at the agent's next daily, without a restart.
 */
describe.skipIf(!services)('the configuration from the catalog, across processes', () => {
  let stack: Stack;
  let emu: Emulators;
  let probe: QueueProbe;
  let src: string;
  const file = (name: string) => path.join(stack.iso.dir, name);

  const writeConfig = async (name: string, sources: string[]) => {
    await writeFile(
      file(name),
      JSON.stringify({
        hosts: { [HOST]: { sources: sources.map((p) => ({ path: p })) } },
        targets: [{ name: 'second', url: `file://${stack.secondDir}` }, ...emu.targets()],
      }),
    );
  };

  beforeAll(async () => {
    emu = await startEmulators('cfg-catalog');
    stack = await createStack(services!, 'cfg-catalog');
    // No process of this installation gets a configuration file: only `config apply` reads one.
    stack.env.FLEET_BACKUP_CONFIG = '';
    src = path.join(stack.iso.dir, 'src');
    for (const dir of ['a', 'b']) {
      await mkdir(path.join(src, dir), { recursive: true });
      await writeFile(path.join(src, dir, `${dir}.txt`), `file in ${dir}\n`);
    }
    await writeConfig('v1.json', [path.join(src, 'a')]);
    probe = new QueueProbe(stack.iso.redisUrl, stack.iso.queuePrefix);
  }, 120_000);
  afterAll(async () => {
    await probe?.close();
    await stack?.stop();
    await emu?.stop();
  });

  it('refuses a bad file whole, naming every problem, and a dry run changes nothing', async () => {
    await writeFile(
      file('bad.json'),
      JSON.stringify({
        hosts: { [HOST]: { sources: [{ path: 'not/absolute' }] } },
        targets: [{ name: 'Bad Name', url: 'file:///x' }],
      }),
    );
    const bad = await stack.cli(['config', 'apply', file('bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is refused, nothing was applied (2 problems)');
    expect(bad.stderr).toContain(`hosts.${HOST}.sources.0.path`);
    expect(bad.stderr).toContain('targets.0.name');

    const dry = await stack.cli(['config', 'apply', file('v1.json'), '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`+ host ${HOST}`);
    expect(dry.stdout).toContain('+ target s3');
    expect(dry.stdout).toContain('dry run: the above would be version 1; nothing was changed');
    const history = await stack.cli(['config', 'history', '--json']);
    expect(JSON.parse(history.stdout)).toEqual([]);
  });

  it('a CLI and an agent without a file plan and back up by the version a third process applied', async () => {
    const applied = await stack.cli(['config', 'apply', file('v1.json')]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('applied as version 1');

    const plan = await stack.cli(['plan', '--host', HOST, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).taken.map((f: { path: string }) => f.path)).toEqual([
      path.join(src, 'a', 'a.txt'),
    ]);

    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    const w = await backupAndWait(stack, manualBackup(HOST, 'by version 1', [path.join(src, 'a')]).slice(1));
    expect(w.result?.status, w.run.stderr).toBe('verified');
    const view = await show(stack, w.result!.id);
    expect(view.config_version).toBe(1);
    expect(view.copies.map((c) => c.target).sort()).toEqual(['gcs', 'local', 's3', 'second']);
    const shown = await stack.cli(['show', w.result!.id]);
    expect(shown.stdout).toContain('planned with configuration version 1');
  });

  it('an agent backs up a source a new version added at its next daily, without a restart', async () => {
    await writeConfig('v2.json', [path.join(src, 'a'), path.join(src, 'b')]);
    const applied = await stack.cli(['config', 'apply', file('v2.json')]);
    expect(applied.stdout).toContain(`~ host ${HOST}: source ${path.join(src, 'b')} added`);
    expect(applied.stdout).toContain('applied as version 2');

    await probe.queue('pool').add('daily', { host: HOST });
    const daily = await waitFor(
      async () =>
        (await listBackups(stack)).find(
          (b) => b.host === HOST && /^\d{8}$/.test(b.key) && b.status === 'verified',
        ),
      { timeoutMs: 60_000, what: 'the daily to verify' },
    );
    const view = await show(stack, daily.id);
    expect(view.config_version).toBe(2);
    expect(view.request.paths).toEqual([path.join(src, 'a'), path.join(src, 'b')]);
    // Metadata paths drop the leading '/'.
    expect(view.files.map((f) => `/${f.path}`).sort()).toEqual([
      path.join(src, 'a', 'a.txt'),
      path.join(src, 'b', 'b.txt'),
    ]);

    const history = JSON.parse((await stack.cli(['config', 'history', '--json'])).stdout);
    expect(history.map((v: { version: number; origin: string }) => [v.version, v.origin])).toEqual([
      [2, 'apply'],
      [1, 'apply'],
    ]);
    const shown = await stack.cli(['config', 'show', '--version', '1', '--json']);
    expect(JSON.parse(shown.stdout).hosts[HOST].sources).toEqual([
      { path: path.join(src, 'a'), config: false },
    ]);
  });

  it('a producer started with a file applies it when it differs; a worker with another file warns and runs on the catalog', async () => {
    await writeConfig('v3.json', [path.join(src, 'a')]);
    const producer = await stack.start(['producer'], { FLEET_BACKUP_CONFIG: file('v3.json') });
    const history = JSON.parse((await stack.cli(['config', 'history', '--json'])).stdout);
    expect(history[0]).toMatchObject({ version: 3, origin: 'file' });
    expect(history[0].appliedBy).toMatch(/^producer:/);
    // Started again with the same file: the same document, no new version.
    await producer.stop();
    await stack.start(['producer'], { FLEET_BACKUP_CONFIG: file('v3.json') });
    expect(JSON.parse((await stack.cli(['config', 'history', '--json'])).stdout)).toHaveLength(3);

    const worker = await stack.start(['worker'], { FLEET_BACKUP_CONFIG: file('v2.json') });
    await worker.waitForLog("FLEET_BACKUP_CONFIG differs from the catalog's configuration");
    const plan = await stack.cli(['plan', '--host', HOST, '--json'], {
      FLEET_BACKUP_CONFIG: file('v2.json'),
    });
    expect(JSON.parse(plan.stdout).sources).toEqual([path.join(src, 'a')]);
  });

  it('a role without a credential the version names fails the job that needs it, naming the variable, and no other', async () => {
    const [s3] = emu.targets();
    const options = s3!.options as { credentials: { accessKeyId: string } };
    await writeFile(
      file('v4.json'),
      JSON.stringify({
        hosts: { [HOST]: { sources: [{ path: path.join(src, 'a') }] } },
        targets: [
          { name: 'second', url: `file://${stack.secondDir}` },
          {
            ...s3,
            name: 's3-ref',
            // No process of the stack has this variable.
            options: { credentials: { ...options.credentials, secretAccessKey: { env: 'CFG_S3_SECRET' } } },
          },
        ],
      }),
    );
    expect((await stack.cli(['config', 'apply', file('v4.json')])).code).toBe(0);
    const w = await backupAndWait(
      stack,
      manualBackup(HOST, 'missing credential', [path.join(src, 'a')]).slice(1),
    );
    expect(w.result?.status).toBe('failed');
    const view = await show(stack, w.result!.id);
    const replicate = view.stages.find((s) => s.stage === 'replicate' && s.target === 's3-ref');
    expect(replicate?.error).toContain(
      'target s3-ref: options.credentials.secretAccessKey needs the environment variable CFG_S3_SECRET, which is not set for this process',
    );
    // The other copies go on: the second disk verifies.
    await waitFor(
      async () =>
        (await show(stack, w.result!.id)).copies.find((c) => c.target === 'second')?.status === 'verified',
      { timeoutMs: 30_000, what: 'the second copy to verify' },
    );
  });
});
