import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@fleet-backup/config';
import { createPool } from '@fleet-backup/db';
import { openRuntime } from '@fleet-backup/runtime';
import { blobKey, manifestKey, packKey } from '@fleet-backup/storage';
import { recheckTargetCopy } from '@fleet-backup/worker';
import { waitFor } from './cli.ts';
import { type ByteSpot, blobBytes, type Emulators, flipByte } from './emulators.ts';
import { readManifestText, writeManifestText } from './manifest-file.ts';
import type { Stack } from './stack.ts';

/** `show --json`, as the rot tests read it. */
export interface ShownBackup {
  id: string;
  host: string;
  key: string;
  status: string;
  compliance: { ok: boolean; summary: string };
  copies: { target: string; status: string; detail: Record<string, unknown> }[];
  files: { path: string; stored: string; sha256: string; encrypted?: { stored_sha256: string } }[];
}

export async function show(stack: Stack, id: string): Promise<ShownBackup> {
  const run = await stack.cli(['show', id, '--json']);
  if (run.code !== 0) throw new Error(`show ${id} failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as ShownBackup;
}

export const copyStates = (b: ShownBackup) => Object.fromEntries(b.copies.map((c) => [c.target, c.status]));

/** Waits until every copy of the backup is verified and the backup is too (healing takes a few jobs). */
export async function waitVerified(stack: Stack, id: string, timeoutMs = 120_000): Promise<ShownBackup> {
  let last: ShownBackup | undefined;
  return waitFor(
    async () => {
      last = await show(stack, id);
      return last.status === 'verified' && last.copies.every((c) => c.status === 'verified') ? last : null;
    },
    {
      timeoutMs,
      intervalMs: 500,
      what: `backup ${id} to be verified again`,
      detail: () => JSON.stringify(last?.copies),
    },
  );
}

/**
 * Reads target copies of a backup back in this process, as `fleet-backup verify` has a pool worker
 * do (found by `cli`, a repair queued): for a test that marks rot while no pool worker runs, so
 * that no repair heals it before the test has looked. Returns each copy's problems.
 */
export async function readBackNow(env: Record<string, string>, backupId: string, targets: string[]) {
  const rt = await openRuntime(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { name: 'read-back-test' });
  try {
    const problems: Record<string, { path: string; problem: string }[]> = {};
    for (const t of targets)
      problems[t] = (
        await recheckTargetCopy(rt, backupId, t, { by: 'cli', log: rt.log, repair: true })
      ).problems;
    return problems;
  } finally {
    await rt.close();
  }
}

/** A source directory of plain files and one sensitive file (encrypted on the agent), all unique bytes. */
export async function rotSource(root: string, label: string): Promise<string> {
  const dir = path.join(root, `src-${label}`);
  await mkdir(dir, { recursive: true });
  for (const name of ['a', 'b', 'c', 'd']) {
    await writeFile(path.join(dir, `${name}.txt`), `${label} ${name} ${randomBytes(2048).toString('hex')}\n`);
  }
  await writeFile(path.join(dir, 'server.key'), `${label} key ${randomBytes(512).toString('hex')}\n`);
  return dir;
}

/** The stored file of a backup whose source path ends with `name`. */
export function fileOf(b: ShownBackup, name: string): ShownBackup['files'][number] {
  const f = b.files.find((x) => x.path.endsWith(`/${name}`));
  if (!f) throw new Error(`backup ${b.key} has no file ${name}`);
  return f;
}

/** sha256 of the bytes a copy stores for a file (the ciphertext of an encrypted one). */
export const storedSha = (f: ShownBackup['files'][number]) => f.encrypted?.stored_sha256 ?? f.sha256;

/** Where one target keeps a blob on this machine: its own file, or its range in a pack. */
export async function blobSpot(
  stack: Stack,
  target: string,
  sha256: string,
  emu?: Emulators,
): Promise<ByteSpot> {
  const pool = createPool(stack.iso.databaseUrl, 1);
  try {
    const r = await pool.query<{ pack: string | null; offset: string; size: string }>(
      'SELECT pack, pack_offset AS offset, size FROM target_blobs WHERE target = $1 AND sha256 = $2',
      [target, sha256],
    );
    const row = r.rows[0];
    const file = (key: string) =>
      emu && target !== 'second'
        ? emu[target as 's3' | 'gcs'].objectPath(emu.bucket, `fleet/${key}`)
        : path.join(stack.secondDir, key);
    if (!row?.pack) return { file: file(blobKey(sha256)) };
    const range = { start: Number(row.offset), length: Number(row.size) };
    return { file: file(packKey(row.pack)), at: range.start + Math.floor(range.length / 2), range };
  } finally {
    await pool.end();
  }
}

/**
 * Where each copy kind keeps a file's bytes on this machine: a file, or a spot inside a pack (the
 * middle of the blob's range, from the catalog's record of where the target put it).
 */
export async function copyPaths(stack: Stack, emu: Emulators, b: ShownBackup) {
  const pool = createPool(stack.iso.databaseUrl, 1);
  const places = new Map<string, { pack: string | null; offset: number; size: number }>();
  try {
    const r = await pool.query<{
      target: string;
      sha256: string;
      pack: string | null;
      offset: string;
      size: string;
    }>(
      'SELECT target, sha256, pack, pack_offset AS offset, size FROM target_blobs WHERE sha256 = ANY($1::text[])',
      [b.files.map(storedSha)],
    );
    for (const row of r.rows)
      places.set(`${row.target} ${row.sha256}`, {
        pack: row.pack,
        offset: Number(row.offset),
        size: Number(row.size),
      });
  } finally {
    await pool.end();
  }
  const spot = (target: string, name: string, file: (key: string) => string): ByteSpot => {
    const sha = storedSha(fileOf(b, name));
    const place = places.get(`${target} ${sha}`);
    if (!place?.pack) return { file: file(blobKey(sha)) };
    const range = { start: place.offset, length: place.size };
    return { file: file(packKey(place.pack)), at: place.offset + Math.floor(place.size / 2), range };
  };
  return {
    local: (name: string) => path.join(stack.backupRoot, b.key, fileOf(b, name).stored),
    second: (name: string) => spot('second', name, (key) => path.join(stack.secondDir, key)),
    s3: (name: string) => spot('s3', name, (key) => emu.s3.objectPath(emu.bucket, `fleet/${key}`)),
    gcs: (name: string) => spot('gcs', name, (key) => emu.gcs.objectPath(emu.bucket, `fleet/${key}`)),
    secondManifest: () => path.join(stack.secondDir, manifestKey(b.host, b.key)),
  };
}

export { blobBytes, flipByte };

/**
 * Changes one letter of the seed entry inside a manifest file, keeping it valid JSON of the same
 * size, stored compressed again: what a byte flip there looks like to a reader that only parses
 * the file list.
 */
export async function flipInManifestEntry(file: string): Promise<void> {
  const text = await readManifestText(file);
  const entry = text.indexOf('"entry"');
  const at = text.indexOf('"purpose": "', entry) + '"purpose": "'.length + 1;
  if (entry < 0 || at <= entry) throw new Error(`no entry purpose in ${file}`);
  const ch = text[at] ?? 'x';
  const flipped = ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase();
  if (flipped === ch) throw new Error(`cannot flip ${JSON.stringify(ch)} in ${file}`);
  await writeManifestText(file, text.slice(0, at) + flipped + text.slice(at + 1));
}

export type CopyPaths = Awaited<ReturnType<typeof copyPaths>>;
