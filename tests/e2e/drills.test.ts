import { mkdir, mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { loadConfig } from '@fleet-backup/config';
import { DrillStore } from '@fleet-backup/db';
import { JobSchedulers, POOL_QUEUE } from '@fleet-backup/queue';
import { hostDrillSchedule, openRuntime, type Runtime } from '@fleet-backup/runtime';
import { blobKey } from '@fleet-backup/storage';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup, waitFor } from '../support/cli.ts';
import { type Emulators, flipByte, startEmulators } from '../support/emulators.ts';
import { blobSpot } from '../support/rot.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'drill-host';

interface DrillJson {
  id: string;
  host: string;
  backupId: string | null;
  backupKey: string | null;
  target: string | null;
  trigger: string;
  ok: boolean | null;
  reason: string | null;
  durationMs: number | null;
  files: number | null;
  bytes: number | null;
  databases?: number;
}

interface ShownFile {
  path: string;
  sha256: string;
  size: number;
}

/** A WAL-mode SQLite database with committed rows, as an application leaves it. */
function writeDatabase(file: string): void {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; CREATE TABLE orders (n INTEGER PRIMARY KEY, item TEXT NOT NULL)');
  db.exec('BEGIN');
  const insert = db.prepare('INSERT INTO orders (item) VALUES (?)');
  for (let i = 0; i < 500; i++) insert.run(`item ${i}`);
  db.exec('COMMIT');
  db.close();
}

describe.skipIf(!services)('restore drills', () => {
  let stack: Stack;
  let emu: Emulators;
  let source: string;
  let rt: Runtime;
  let scratchRoot: string;

  const drillsJson = async (...args: string[]): Promise<DrillJson[]> => {
    const run = await stack.cli(['drills', '--json', ...args]);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as DrillJson[];
  };
  const reportNoRecentDrill = async () => {
    const run = await stack.cli(['report', '--json']);
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout).noRecentDrill as {
      days: number;
      hosts: { host: string; lastPassed: string | null; reason: string }[];
    };
  };
  // Every backup gets new bytes for the files the tests corrupt, so no backup references a blob
  // an earlier test damaged (blobs are content-addressed and shared between backups).
  let generation = 0;
  const freshen = async () => {
    generation++;
    await writeFile(path.join(source, 'etc', 'app.yaml'), `port: ${8080 + generation}\n`);
    const db = new DatabaseSync(path.join(source, 'orders.db'));
    db.prepare('INSERT INTO orders (item) VALUES (?)').run(`generation ${generation}`);
    db.close();
  };
  const backup = async (description: string) => {
    await freshen();
    const run = await stack.cli(manualBackup(HOST, description, [source], '--json', '--wait'));
    expect(run.code, run.stderr).toBe(0);
    const { id, key } = JSON.parse(run.stdout) as { id: string; key: string };
    const shown = JSON.parse((await stack.cli(['show', id, '--json'])).stdout) as { files: ShownFile[] };
    return { id, key, files: shown.files };
  };
  /** Today's daily of the host's sources (one per host per day, as the fleet takes them). */
  const daily = async () => {
    await freshen();
    const run = await stack.cli([
      'backup',
      '--host',
      HOST,
      '--kind',
      'daily',
      '--path',
      source,
      '--json',
      '--wait',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const { id, key } = JSON.parse(run.stdout) as { id: string; key: string };
    const shown = JSON.parse((await stack.cli(['show', id, '--json'])).stdout) as { files: ShownFile[] };
    return { id, key, files: shown.files };
  };
  const findings = async (copy: string, foundBy: string) =>
    (
      await rt.pool.query<{
        object: string;
        healed_at: Date | null;
        healed_from: string | null;
        backup_id: string;
      }>(
        'SELECT object, healed_at, healed_from, backup_id FROM rot_findings WHERE copy = $1 AND found_by = $2',
        [copy, foundBy],
      )
    ).rows;
  const copyStatus = async (id: string, target: string) =>
    (
      JSON.parse((await stack.cli(['show', id, '--json'])).stdout).copies as {
        target: string;
        status: string;
      }[]
    ).find((c) => c.target === target)?.status;
  // Throws when the directory is missing: the drills must have used it.
  const scratchEntries = () => readdir(scratchRoot);

  beforeAll(async () => {
    emu = await startEmulators('drills');
    source = await mkdtemp(path.join(os.tmpdir(), 'fbt-drills-src-'));
    await mkdir(path.join(source, 'etc'), { recursive: true });
    await writeFile(path.join(source, 'notes.txt'), 'hello drills\n');
    writeDatabase(path.join(source, 'orders.db'));
    stack = await createStack(services!, 'drills', {
      hosts: { [HOST]: { sources: [{ path: source }] } },
      targets: emu.targets(),
    });
    scratchRoot = path.join(stack.env.DATA_DIR!, 'drills');
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
    rt = await openRuntime(loadConfig({ ...stack.env, LOG_LEVEL: 'warn' }), { name: 'drills-test' });
  }, 120_000);
  afterAll(async () => {
    await rt?.close();
    await stack?.stop();
    await emu?.stop();
    if (source) await rm(source, { recursive: true, force: true });
  });

  it('lists a host that never had a drill in report', async () => {
    const section = await reportNoRecentDrill();
    expect(section.days).toBe(14);
    expect(section.hosts).toEqual([
      expect.objectContaining({ host: HOST, lastPassed: null, reason: 'never drilled' }),
    ]);
    const text = await stack.cli(['report']);
    expect(text.stdout).toMatch(/hosts with no successful restore drill in 14 days .*\(1\)\n/);
    expect(text.stdout).toMatch(new RegExp(`${HOST} +never +never +never drilled`));
  });

  it("passes on the host's newest verified daily from an offsite copy, records it, and leaves no scratch directory", async () => {
    const good = await daily();
    const run = await stack.cli(['drill', '--host', HOST, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const drill = JSON.parse(run.stdout) as DrillJson;
    const bytes = good.files.reduce((n, f) => n + f.size, 0);
    expect(drill).toMatchObject({
      host: HOST,
      backupId: good.id,
      backupKey: good.key,
      // The first verified offsite copy (gcs and s3 are offsite; the fs target is not).
      target: 'gcs',
      trigger: 'manual',
      ok: true,
      reason: null,
      files: 3,
      bytes,
      databases: 1,
    });
    expect(drill.durationMs).toBeGreaterThanOrEqual(0);
    expect(await scratchEntries()).toEqual([]);

    const listed = await drillsJson('--host', HOST);
    expect(listed[0]).toMatchObject({ id: drill.id, ok: true, target: 'gcs', files: 3, bytes });
    const table = await stack.cli(['drills']);
    expect(table.stdout).toMatch(new RegExp(`${HOST} +manual +${good.key} +gcs +ok +3 +${bytes}`));
    expect((await reportNoRecentDrill()).hosts).toEqual([]);
  });

  it('fails a drill of a corrupted offsite copy, naming the file and the copy, and report lists the host', async () => {
    const { key, files } = await backup('drill-corrupt');
    const yaml = files.find((f) => f.path.endsWith('etc/app.yaml'))!;
    await flipByte(await blobSpot(stack, 's3', yaml.sha256, emu));
    // The good drill ages past the 14 days: only a passing drill this fortnight keeps a host off the list.
    await rt.pool.query(
      "UPDATE drill_runs SET started_at = started_at - interval '15 days' WHERE host = $1",
      [HOST],
    );

    const run = await stack.cli(['drill', '--host', HOST, '--backup', key, '--from', 's3', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`drill failed: ${yaml.path} from copy s3: sha256 mismatch`);
    const drill = JSON.parse(run.stdout) as DrillJson;
    expect(drill).toMatchObject({ ok: false, target: 's3', backupKey: key, trigger: 'manual' });
    expect(drill.reason).toMatch(
      new RegExp(
        `^${yaml.path} from copy s3: sha256 mismatch \\(bytes hash to [0-9a-f]{64}, expected ${yaml.sha256}\\)$`,
      ),
    );
    expect(await scratchEntries()).toEqual([]);
    // The copy served bad bytes: it was marked corrupt exactly as if verify had found it, the blob
    // marked bad, and a repair queued, which puts good bytes back and verifies the copy again.
    const found = (await findings('s3', 'drill')).filter((f) => f.backup_id === drill.backupId);
    expect(found).toEqual([expect.objectContaining({ object: blobKey(yaml.sha256) })]);
    await waitFor(async () => (await copyStatus(drill.backupId!, 's3')) === 'verified', {
      timeoutMs: 60_000,
      what: 'the repair to heal the s3 copy',
    });
    expect(
      (await findings('s3', 'drill')).find((f) => f.backup_id === drill.backupId)?.healed_at,
    ).toBeTruthy();

    const section = await reportNoRecentDrill();
    expect(section.hosts).toEqual([
      expect.objectContaining({ host: HOST, reason: drill.reason, lastPassed: expect.any(String) }),
    ]);
    expect((await stack.cli(['report'])).stdout).toContain(`${yaml.path} from copy s3: sha256 mismatch`);
  });

  it('fails a drill of a corrupted fs copy the same way', async () => {
    const { key, files } = await backup('drill-fs');
    const db = files.find((f) => f.path.endsWith('orders.db'))!;
    await flipByte(await blobSpot(stack, 'second', db.sha256, emu));
    const run = await stack.cli(['drill', '--host', HOST, '--backup', key, '--from', 'second']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${db.path} from copy second: sha256 mismatch`);
    // Progress for people (no --json) goes to stderr, beside the reason.
    expect(run.stderr).toContain(`drill ${key} from second: `);
    expect(await scratchEntries()).toEqual([]);
  });

  it('answers 3 for an unknown host or backup, 2 for an unknown copy, and records nothing', async () => {
    const before = (await drillsJson()).length;
    const copy = await stack.cli(['drill', '--host', HOST, '--from', 'nowhere']);
    expect(copy.code).toBe(2);
    expect(copy.stderr).toContain(
      'no target or target kind "nowhere" is configured (targets: second (fs), s3 (s3), gcs (gcs))',
    );
    expect((await stack.cli(['drill', '--host', 'no-such-host'])).code).toBe(3);
    expect((await stack.cli(['drill', '--host', HOST, '--backup', '20990101'])).code).toBe(3);
    expect((await drillsJson()).length).toBe(before);
  });

  it('takes the newest verified daily by default, not a newer manual backup; another kind only when asked', async () => {
    const { key: manualKey } = await backup('drill-newer-manual');
    const byDefault = JSON.parse((await stack.cli(['drill', '--host', HOST, '--json'])).stdout) as DrillJson;
    expect(byDefault.backupKey).toMatch(/^\d{8}$/);
    const manual = await stack.cli(['drill', '--host', HOST, '--kind', 'manual', '--json']);
    expect(manual.code, manual.stderr).toBe(0);
    expect((JSON.parse(manual.stdout) as DrillJson).backupKey).toBe(manualKey);
    const none = await stack.cli(['drill', '--host', HOST, '--kind', 'pre_change']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`host ${HOST} has no verified pre_change backup to drill`);
    expect((await stack.cli(['drill', '--host', HOST, '--kind', 'weekly'])).code).toBe(2);
    expect((await stack.cli(['drill', '--host', HOST, '--kind', 'manual', '--backup', manualKey])).code).toBe(
      2,
    );
  });

  it('calls a checksum error from the GCS server corruption: the copy is marked corrupt, then healed', async () => {
    const { key, files } = await backup('drill-gcs-checksum');
    const yaml = files.find((f) => f.path.endsWith('etc/app.yaml'))!;
    // The emulator serves the stored crc32c; the client checks the bytes against it and fails.
    await flipByte(await blobSpot(stack, 'gcs', yaml.sha256, emu));
    const run = await stack.cli(['drill', '--host', HOST, '--backup', key, '--from', 'gcs', '--json']);
    expect(run.code).toBe(1);
    const drill = JSON.parse(run.stdout) as DrillJson;
    expect(drill.reason).toMatch(new RegExp(`^${yaml.path} from copy gcs: .*(corrupt|sha256 mismatch)`));
    expect((await findings('gcs', 'drill')).filter((f) => f.backup_id === drill.backupId)).toEqual([
      expect.objectContaining({ object: blobKey(yaml.sha256) }),
    ]);
    await waitFor(async () => (await copyStatus(drill.backupId!, 'gcs')) === 'verified', {
      timeoutMs: 60_000,
      what: 'the repair to heal the gcs copy',
    });
  });

  it("has the host's agent read the drilled backup's local copy too, and heal it", async () => {
    const { id, key, files } = await backup('drill-local');
    const notes = files.find((f) => f.path.endsWith('notes.txt'))!;
    const shown = JSON.parse((await stack.cli(['show', id, '--json'])).stdout) as {
      files: { path: string; stored: string }[];
    };
    const stored = shown.files.find((f) => f.path === notes.path)!.stored;
    await flipByte(path.join(stack.backupRoot, key, stored));
    const run = await stack.cli(['drill', '--host', HOST, '--backup', key]);
    // The drill restores from a target copy, which is intact.
    expect(run.code, run.stderr).toBe(0);
    const local = await waitFor(
      async () =>
        (await findings('local', 'drill')).find((f) => f.object === `${key}/${stored}` && f.healed_at),
      { timeoutMs: 60_000, what: 'the agent to find and heal the local file' },
    );
    expect(local.healed_from).toBe('second');
    expect(await copyStatus(id, 'local')).toBe('verified');
  });

  it('keeps one drill scheduler per host across producer starts, and the pool worker runs it as scheduled', async () => {
    await stack.start(['producer']);
    const schedulers = await new JobSchedulers(rt.queues).list(POOL_QUEUE, 'drill.');
    expect(schedulers).toHaveLength(1);
    const host = (await rt.hosts.get(HOST))!;
    const expected = hostDrillSchedule(host, rt.config);
    expect(schedulers[0]).toMatchObject({
      id: `drill.${HOST}`,
      name: 'drill',
      pattern: expected.pattern,
      tz: expected.timeZone,
      data: { host: HOST },
    });
    expect(expected.pattern).toMatch(/^\d+ 4 \* \* 0$/);

    const pending = (await rt.queues.queue(POOL_QUEUE).getJobs(['delayed'], 0, -1)).filter(
      (j) => j?.name === 'drill',
    );
    expect(pending).toHaveLength(1);
    await pending[0]!.promote();
    const store = new DrillStore(rt.pool);
    const scheduled = await waitFor(
      async () => (await store.list({ host: HOST })).find((r) => r.trigger === 'scheduled' && r.ok !== null),
      { timeoutMs: 60_000, what: 'the scheduled drill to finish' },
    );
    // The newest verified daily, from the first verified offsite copy (gcs is intact).
    expect(scheduled).toMatchObject({ ok: true, target: 'gcs', files: 3, reason: null });
    expect(await scratchEntries()).toEqual([]);
  });

  it('fails when a restored database does not pass integrity_check, naming the file and the copy', async () => {
    // Damaged at the source where capture does not look: SQLite's backup API copies pages as they
    // are, so every hash matches and the backup verifies; only opening the database tells.
    const broken = path.join(source, 'broken.db');
    writeDatabase(broken);
    const db = new DatabaseSync(broken);
    db.exec('CREATE INDEX orders_item ON orders (item)');
    const { rootpage } = db
      .prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'orders_item'")
      .get() as {
      rootpage: number;
    };
    const pageSize = Number((db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
    db.close();
    const handle = await open(broken, 'r+');
    await handle.write(Buffer.alloc(pageSize, 0x5a), 0, pageSize, (rootpage - 1) * pageSize);
    await handle.close();
    const { key } = await backup('drill-broken-db');

    const run = await stack.cli(['drill', '--host', HOST, '--backup', key, '--json']);
    expect(run.code).toBe(1);
    const drill = JSON.parse(run.stdout) as DrillJson;
    expect(drill.reason).toMatch(new RegExp(`^${broken.slice(1)} from copy gcs: integrity_check: .+`));
    expect(drill).toMatchObject({ ok: false, target: 'gcs', files: 4 });
    expect(await scratchEntries()).toEqual([]);
    // The copy holds exactly what was captured: the drill found a bad database, not a bad copy.
    const shown = JSON.parse((await stack.cli(['show', drill.backupId!, '--json'])).stdout);
    expect(shown.copies.find((c: { target: string }) => c.target === 'gcs').status).toBe('verified');
  });

  it('removes the drill scheduler at once when the host is deregistered', async () => {
    const removed = await stack.cli(['hosts', 'remove', HOST, '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await new JobSchedulers(rt.queues).list(POOL_QUEUE, 'drill.')).toEqual([]);
  });
});
