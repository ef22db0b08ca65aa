import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hostMetadataSchema } from '@fleet-backup/core';
import { serviceUrls } from '@fleet-backup/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualBackup } from '../support/cli.ts';
import { createStack, type Stack } from '../support/stack.ts';

const services = await serviceUrls();
const HOST = 'complete-host';
/** Every file is this size, so a share of the files is the same share of the bytes. */
const SIZE = 1000;
const REQUIRED = ['app.db', 'config/app.yaml'];
/** The two required files and 18 others: 20 files, 20 000 bytes. */
const FILES = [
  ...REQUIRED,
  ...Array.from({ length: 18 }, (_, i) => `data/f${String(i).padStart(2, '0')}.txt`),
];

interface Show {
  id: string;
  key: string;
  status: string;
  missing: string[];
  sharp_drop: {
    previous: { id: string; key: string };
    threshold: number;
    files: { before: number; after: number; percent: number };
    bytes: { before: number; after: number; percent: number };
  } | null;
  mass_change: {
    previous: { id: string; key: string };
    threshold: number;
    before: number;
    changed: number;
    percent: number;
  } | null;
  stages: { status: string }[];
  copies: { target: string; status: string }[];
  metadata: Record<string, unknown>;
}

describe.skipIf(!services)('completeness: required files, sharp drops and mass changes', () => {
  let stack: Stack;
  let source: string;

  const write = (rel: string) =>
    mkdir(path.dirname(path.join(source, rel)), { recursive: true }).then(() =>
      writeFile(path.join(source, rel), `${rel}\n`.padEnd(SIZE, '.')),
    );
  /** Rewrites a file in place with other bytes of the same size, as ransomware encrypting it would. */
  const scramble = (rel: string) => writeFile(path.join(source, rel), `${rel} encrypted\n`.padEnd(SIZE, '#'));
  const remove = (rels: string[]) => Promise.all(rels.map((r) => rm(path.join(source, r))));
  const show = async (id: string): Promise<Show> =>
    JSON.parse((await stack.cli(['show', id, '--json'])).stdout);
  /** A manual backup of the source, waited for; returns its `show --json`. */
  async function backup(description: string): Promise<Show> {
    const run = await stack.cli(manualBackup(HOST, description, [source], '--wait', '--json'));
    expect(run.code, run.stderr).toBe(0);
    return show(JSON.parse(run.stdout).id);
  }

  beforeAll(async () => {
    // The config file names the source, so the tree exists before the stack.
    source = await mkdtemp(path.join(os.tmpdir(), 'fleet-backup-complete-'));
    for (const rel of FILES) await write(rel);
    stack = await createStack(services!, 'complete', {
      hosts: { [HOST]: { sources: [{ path: source, required: REQUIRED }] } },
    });
    await stack.start(['producer']);
    await stack.start(['worker']);
    await stack.start(['agent', '--host', HOST]);
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await rm(source, { recursive: true, force: true });
  });

  let incomplete: Show;

  it('ends a backup missing a required file incomplete, exit 1 with the missing list, never verified', async () => {
    await remove(['app.db']);
    const run = await stack.cli(['backup', '--host', HOST, '--kind', 'daily', '--path', source, '--wait']);
    const missing = path.join(source, 'app.db');
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`is incomplete: required files missing: ${missing}`);
    const id = run.stdout.trim().split(' ')[0]!;
    incomplete = await show(id);
    expect(incomplete.status).toBe('incomplete');
    expect(incomplete.missing).toEqual([missing]);
    // It kept what it had: every stage ran and every copy verified, yet the backup is not verified.
    expect(incomplete.stages.every((s) => s.status === 'done')).toBe(true);
    expect(incomplete.copies.map((c) => [c.target, c.status])).toEqual([
      ['local', 'verified'],
      ['second', 'verified'],
    ]);
    expect(incomplete.metadata).toMatchObject({ status: 'active', verified: false });
    expect(Object.keys(incomplete.metadata.files as object)).toHaveLength(FILES.length - 1);
    expect(incomplete.sharp_drop).toBeNull();

    const text = await stack.cli(['show', id]);
    expect(text.stdout).toContain(`MISSING ${missing}`);
  }, 120_000);

  it('keeps the seed entry valid: backup_metadata.json on the host and exported', async () => {
    const exported = hostMetadataSchema.parse(
      JSON.parse((await stack.cli(['export-metadata', '--host', HOST])).stdout),
    );
    expect(exported.daily[incomplete.key]).toMatchObject({ status: 'active', verified: false });
    const onHost = JSON.parse(await readFile(path.join(stack.backupRoot, 'backup_metadata.json'), 'utf8'));
    expect(hostMetadataSchema.parse(onHost).daily[incomplete.key]?.verified).toBe(false);
  });

  it('lists the incomplete backup in report, text and JSON, and not as needing verification', async () => {
    const json = JSON.parse((await stack.cli(['report', '--json'])).stdout);
    expect(json.incomplete).toEqual([
      expect.objectContaining({ id: incomplete.id, status: 'incomplete', missing: incomplete.missing }),
    ]);
    expect(json.needsVerification.map((b: { id: string }) => b.id)).not.toContain(incomplete.id);
    const text = (await stack.cli(['report'])).stdout;
    const section = text.slice(text.indexOf('incomplete backups (required files missing) (1)'));
    expect(section).toContain(incomplete.key);
    expect(section).toContain(incomplete.missing[0]);
  });

  it('flags a 60% drop in files and bytes, and not a 30% one', async () => {
    await write('app.db');
    const full = await backup('full');
    expect(full).toMatchObject({ status: 'verified', missing: [], sharp_drop: null });

    const sixty = FILES.slice(2, 14); // 12 of 20 files, none of them required
    await remove(sixty);
    const dropped = await backup('after cleanup');
    expect(dropped.status).toBe('verified'); // flagged, not failed: the operator decides
    expect(dropped.sharp_drop).toEqual({
      previous: { id: full.id, key: full.key },
      threshold: 50,
      files: { before: 20, after: 8, percent: 60 },
      bytes: { before: 20 * SIZE, after: 8 * SIZE, percent: 60 },
    });
    const text = (await stack.cli(['show', dropped.id])).stdout;
    expect(text).toContain(`SHARP DROP files 20 -> 8 (-60%), bytes 20000 -> 8000 (-60%) since ${full.key}`);

    for (const rel of sixty) await write(rel);
    expect((await backup('restored')).sharp_drop).toBeNull();
    await remove(FILES.slice(2, 8)); // 6 of 20: 30%
    const thirty = await backup('small cleanup');
    expect(thirty).toMatchObject({ status: 'verified', sharp_drop: null });

    const json = JSON.parse((await stack.cli(['report', '--json'])).stdout);
    expect(json.sharpDrops).toEqual([
      expect.objectContaining({ id: dropped.id, key: dropped.key, drop: dropped.sharp_drop }),
    ]);
    const report = (await stack.cli(['report'])).stdout;
    const section = report.slice(report.indexOf('sharp drops'));
    expect(section).toMatch(/^sharp drops .*\(1\)$/m);
    expect(section).toContain(dropped.key);
    expect(section).toContain('20 -> 8 (-60%)');
  }, 240_000);

  it('flags a mass change when most files are rewritten with their sizes kept, and not a third of them', async () => {
    for (const rel of FILES) await write(rel);
    const clean = await backup('clean');
    expect(clean.mass_change).toBeNull();
    // 12 of 20 files rewritten in place, same count, same sizes: no sharp drop, but a mass change.
    const encrypted = FILES.slice(0, 12);
    for (const rel of encrypted) await scramble(rel);
    const hit = await backup('encrypted');
    expect(hit).toMatchObject({ status: 'verified', sharp_drop: null });
    expect(hit.mass_change).toEqual({
      previous: { id: clean.id, key: clean.key },
      threshold: 50,
      before: 20,
      changed: 12,
      percent: 60,
    });
    const text = (await stack.cli(['show', hit.id])).stdout;
    expect(text).toContain(
      `MASS CHANGE 12 of 20 files (60%) changed or gone since ${clean.key} (threshold 50%)`,
    );

    // Six more rewritten against the encrypted backup: 30%, no flag.
    for (const rel of FILES.slice(12, 18)) await scramble(rel);
    expect((await backup('a third')).mass_change).toBeNull();

    const json = JSON.parse((await stack.cli(['report', '--json'])).stdout);
    expect(json.massChanges).toContainEqual(
      expect.objectContaining({ id: hit.id, key: hit.key, change: hit.mass_change }),
    );
    const report = (await stack.cli(['report'])).stdout;
    expect(report.slice(report.indexOf('mass changes'))).toContain('12 of 20 (60%)');
  }, 240_000);
});
