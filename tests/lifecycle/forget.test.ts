import { createHash } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FsTarget, indexPacks } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import { show, waitForStatus } from '../support/fault.ts';
import { blobSpot, flipByte } from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'fg-01';
const IDLE = 'fg-idle';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/**
 * `fleet-backup forget` through the real CLI and roles: what it refuses without --force, what it
 * removes (local directory, manifests, catalog rows; gc then the blobs no one else uses), the
 * audit it leaves, and that it finishes on its own when an agent was down.
 */
describe.skipIf(!services)('fleet-backup forget', () => {
  let stack: Stack;
  let src: string;
  let producer: RoleProcess;
  const ids: Record<string, { id: string; key: string }> = {};

  const manifestFile = (key: string) => path.join(stack.secondDir, 'hosts', HOST, key, 'manifest.json');
  const forgetRow = async (id: string) =>
    (await stack.iso.pool.query('SELECT * FROM backup_forgets WHERE backup_id = $1', [id])).rows[0];
  const backupRow = async (id: string) =>
    (await stack.iso.pool.query('SELECT lifecycle FROM backups WHERE id = $1', [id])).rows[0];
  const request = async (args: string[]) => {
    const run = await stack.cli([...args, '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as { id: string; key: string };
  };

  beforeAll(async () => {
    stack = await createStack(services!, 'forget', {
      hosts: { [HOST]: { sources: [] }, [IDLE]: { sources: [] } },
      config: { lifecycle: { blobGraceHours: 0 } },
    });
    src = path.join(stack.iso.dir, 'src');
    await mkdir(path.join(src, 'a'), { recursive: true });
    await mkdir(path.join(src, 'b'), { recursive: true });
    await writeFile(path.join(src, 'a', 'shared.txt'), 'shared by both backups\n');
    await writeFile(path.join(src, 'a', 'only-a.txt'), 'only in the forgotten backup\n');
    await writeFile(path.join(src, 'b', 'shared.txt'), 'shared by both backups\n');
    // The producer registers both hosts and finishes interrupted forgets every sweep.
    producer = await stack.start(['producer'], { RECONCILE_INTERVAL_MS: '1000' });
    await stack.start(['agent', '--host', HOST]);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('makes an unverified backup (its copies found corrupt, none left to heal from) and a verified one sharing a blob', async () => {
    // No pool worker yet: the copy is replicated, then damaged before verify reads it.
    ids.A = await request(manualBackup(HOST, 'bad copy', [path.join(src, 'a')]));
    await waitFor(
      async () =>
        (
          await stack.iso.pool.query(
            "SELECT 1 FROM backup_stages WHERE backup_id = $1 AND stage = 'replicate' AND status = 'done'",
            [ids.A!.id],
          )
        ).rowCount === 1,
      { timeoutMs: 60_000, what: 'backup A to be replicated' },
    );
    await flipByte(await blobSpot(stack, 'second', sha('only in the forgotten backup\n')));
    // The local copy rots too, so no good copy is left to heal the target's from (issue 10's repair).
    const local = path.join(stack.backupRoot, ids.A.key, src.slice(1), 'a', 'only-a.txt.bak');
    await chmod(local, 0o644);
    await writeFile(local, 'only in the forgotten backup, rotten\n');
    await stack.start(['worker']);
    expect(await waitForStatus(stack, ids.A.id, ['verified', 'unverified', 'failed'])).toBe('unverified');
    // The repair tries the local copy, finds it rotten too, and says so.
    await waitFor(
      async () =>
        (
          await stack.iso.pool.query(
            "SELECT 1 FROM backup_copies WHERE backup_id = $1 AND target = 'local' AND status = 'corrupt'",
            [ids.A!.id],
          )
        ).rowCount === 1,
      { timeoutMs: 60_000, what: "backup A's local copy to be found corrupt" },
    );
    ids.B = await request(manualBackup(HOST, 'good', [path.join(src, 'b')], '--wait'));
    expect(await waitForStatus(stack, ids.B.id, ['verified', 'unverified', 'failed'])).toBe('verified');
  });

  it('refuses without --by and --reason, and a verified backup without --force', async () => {
    const noAudit = await stack.cli(['forget', ids.A!.id]);
    expect(noAudit.code).toBe(2);
    expect(noAudit.stderr).toMatch(/--by <name>/);
    const noReason = await stack.cli(['forget', ids.A!.id, '--by', 'ana']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--reason <text>/);
    const verified = await stack.cli(['forget', ids.B!.id, '--by', 'ana', '--reason', 'tidy up']);
    expect(verified.code, verified.stderr).toBe(2);
    expect(verified.stderr).toContain(`${HOST}/${ids.B!.key} verified: it is a good backup`);
    expect(verified.stderr).toContain('add --force');
    expect(await backupRow(ids.B!.id)).toEqual({ lifecycle: null });
    expect(await forgetRow(ids.B!.id)).toBeUndefined();
  });

  it('forgets the unverified backup: local copy, manifest, metadata entry and catalog rows go, audited', async () => {
    const { id, key } = ids.A!;
    expect(await exists(path.join(stack.backupRoot, key))).toBe(true);
    expect(await exists(manifestFile(key))).toBe(true);
    const run = await stack.cli([
      'forget',
      key,
      '--host',
      HOST,
      '--by',
      'ana',
      '--reason',
      'its copy rotted',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(`^forgotten ${HOST}/${key} \\(manual, was unverified\\) by ana at `),
    );
    // Logged with who and why.
    const marked = run.stderr.split('\n').find((l) => l.includes('forget: backup marked'));
    expect(JSON.parse(marked!)).toMatchObject({
      backupId: id,
      by: 'ana',
      reason: 'its copy rotted',
      force: false,
    });

    expect(await backupRow(id)).toBeUndefined();
    expect(await exists(path.join(stack.backupRoot, key))).toBe(false);
    expect(await exists(manifestFile(key))).toBe(false);
    const metadata = JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8'));
    expect(Object.keys(metadata.manual)).toEqual([ids.B!.key]);
    const audit = await forgetRow(id);
    expect(audit).toMatchObject({ host: HOST, key, kind: 'manual', status: 'unverified', forced: false });
    expect(audit).toMatchObject({ forgotten_by: 'ana', reason: 'its copy rotted' });
    expect(audit.forgotten_at.getTime()).toBeGreaterThanOrEqual(audit.requested_at.getTime());
    expect(audit.detail.copies).toEqual([
      { target: 'local', status: 'corrupt' },
      { target: 'second', status: 'corrupt' },
    ]);
    expect((await stack.cli(['show', id])).code).toBe(3);

    // Asking again reports it, changing nothing.
    const again = await stack.cli(['forget', id, '--by', 'bob', '--reason', 'again', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ forgotten: true, by: 'ana', reason: 'its copy rotted' });
    const byKey = await stack.cli(['forget', key, '--host', HOST, '--by', 'bob', '--reason', 'again']);
    expect(byKey.code, byKey.stderr).toBe(0);
    expect(byKey.stdout).toMatch(new RegExp(`^forgotten ${HOST}/${key} .* by ana at .*: its copy rotted;`));
  });

  it('gc then deletes the blob only the forgotten backup used, and keeps the shared one', async () => {
    const gc = await stack.cli(['gc', '--json']);
    expect(gc.code, gc.stderr).toBe(0);
    // The only-A blob shared a pack with the shared one: that pack was repacked, the shared blob moved.
    const onTarget = await indexPacks(new FsTarget({ name: 'second', root: stack.secondDir }));
    expect(onTarget.has(sha('only in the forgotten backup\n'))).toBe(false);
    expect(onTarget.has(sha('shared by both backups\n'))).toBe(true);
    expect((await show(stack, ids.B!.id)).status).toBe('verified');
  });

  it('a failed pre_change whose change is pending needs --force', async () => {
    const pre = await request([
      ...['backup', '--host', HOST, '--kind', 'pre_change', '--description', 'before v2'],
      ...['--ticket', 'CHG-7', '--path', path.join(src, 'missing')],
    ]);
    expect(await waitForStatus(stack, pre.id, ['failed', 'verified'])).toBe('failed');
    const refused = await stack.cli(['forget', pre.id, '--by', 'ana', '--reason', 'wrong path']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('protects change CHG-7, which is not verified yet');
    const forced = await stack.cli(['forget', pre.id, '--by', 'ana', '--reason', 'wrong path', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(await backupRow(pre.id)).toBeUndefined();
    expect(await forgetRow(pre.id)).toMatchObject({ status: 'failed', forced: true, kind: 'pre_change' });
  });

  it('a running backup needs --force; with its agent down the forget waits, then finishes on its own', async () => {
    const stuck = await request(manualBackup(IDLE, 'never runs', ['/srv/idle']));
    const refused = await stack.cli(['forget', stuck.id, '--by', 'ana', '--reason', 'stuck']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`${IDLE}/${stuck.key} is still being backed up (snapshot pending`);
    const forced = await stack.cli([
      ...['forget', stuck.id, '--by', 'ana', '--reason', 'stuck', '--force', '--timeout', '1'],
    ]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain(`forgetting ${IDLE}/${stuck.key}`);
    expect(forced.stdout).toContain(`still to remove: local copy (the agent of ${IDLE})`);
    expect(await backupRow(stuck.id)).toEqual({ lifecycle: 'expiring' });
    expect(await forgetRow(stuck.id)).toMatchObject({ status: 'running', forced: true, forgotten_at: null });

    // The agent comes back: its queued snapshot is a no-op, it removes the local copy, and the
    // producer's next sweep deletes the rows.
    await stack.start(['agent', '--host', IDLE]);
    await waitFor(async () => (await forgetRow(stuck.id))?.forgotten_at, {
      timeoutMs: 60_000,
      what: 'the producer to finish the forget',
      detail: () => producer.log.slice(-2000),
    });
    expect(await backupRow(stuck.id)).toBeUndefined();
    const forgotten = (await stack.cli(['forget', stuck.id, '--by', 'ana', '--reason', 'stuck'])).stdout;
    expect(forgotten).toContain(`forgotten ${IDLE}/${stuck.key} (manual, was running)`);
  });
});
