import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { type FileAttributes, storedPath, systemClock, type TreeNode } from '@fleet-backup/core';
import { BackupStore, type FileRow, type Pool } from '@fleet-backup/db';
import { manifestKey, putBlobIfAbsent, type StorageTarget, writeManifest } from '@fleet-backup/storage';
import { getAttribute, listAttributes } from '@napi-rs/xattr';
import { sendSegments, settleChain } from '../../services/worker/src/stages/listing-chain.ts';
import { buildManifest } from '../../services/worker/src/stages/manifest.ts';

/**
 * A stand-in for the capture (another part of the work fills attributes in at snapshot time):
 * reads a tree the way a snapshot records it, without following symlinks, and publishes it as a
 * backup in the catalog, in BACKUP_ROOT and on targets (blobs plus manifest), so a restore can
 * be tested from every copy.
 */
export interface CapturedFile {
  abs: Buffer;
  row: Omit<FileRow, 'hashedAt'>;
  bytes: Buffer;
}

export interface Captured {
  files: CapturedFile[];
  nodes: TreeNode[];
}

export async function captureTree(root: string): Promise<Captured> {
  const out: Captured = { files: [], nodes: [] };
  await visit(Buffer.from(root), out);
  return out;
}

async function visit(abs: Buffer, out: Captured): Promise<void> {
  const st = await lstat(abs, { bigint: true });
  const { display, raw } = names(abs);
  const attrs = await attributesOf(abs, st);
  if (st.isSymbolicLink()) {
    const target = await readlink(abs, { encoding: 'buffer' });
    const t = utf8OrRaw(target);
    out.nodes.push({
      path: display,
      type: 'symlink',
      target: t.display,
      pathBytes: raw,
      targetBytes: t.raw,
      attrs,
    });
  } else if (st.isDirectory()) {
    out.nodes.push({ path: display, type: 'dir', target: null, pathBytes: raw, targetBytes: null, attrs });
    const children = await readdir(abs, { encoding: 'buffer' });
    for (const child of children.sort(Buffer.compare))
      await visit(Buffer.concat([abs, Buffer.from('/'), child]), out);
  } else {
    const bytes = await readFile(abs);
    out.files.push({
      abs,
      bytes,
      row: {
        path: display,
        storedPath: storedPath(`/${display}`, 'general'),
        cls: 'general',
        size: bytes.length,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        hasWal: null,
        encrypted: null,
        attrs,
        pathBytes: raw,
      },
    });
  }
}

/** The metadata path (no leading /), `\xHH` for bytes that are not UTF-8, and the raw bytes then. */
function names(abs: Buffer): { display: string; raw: Buffer | null } {
  return utf8OrRaw(abs[0] === 0x2f ? abs.subarray(1) : abs);
}

function utf8OrRaw(bytes: Buffer): { display: string; raw: Buffer | null } {
  try {
    return { display: new TextDecoder('utf-8', { fatal: true }).decode(bytes), raw: null };
  } catch {
    const display = [...bytes]
      .map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16)}`))
      .join('');
    return { display, raw: Buffer.from(bytes) };
  }
}

async function attributesOf(abs: Buffer, st: import('node:fs').BigIntStats): Promise<FileAttributes> {
  const xattrs: Record<string, string> = {};
  // The xattr package takes string paths; the fixtures' non-UTF-8 entries carry no xattrs.
  const named = abs.toString('utf8');
  if (Buffer.from(named).equals(abs) && !st.isSymbolicLink()) {
    for (const name of (await listAttributes(named)).sort()) {
      const value = await getAttribute(named, name);
      if (value) xattrs[name] = value.toString('base64');
    }
  }
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    owner: nameOf('passwd', Number(st.uid)),
    group: nameOf('group', Number(st.gid)),
    mtimeNs: st.mtimeNs.toString(),
    ...(Object.keys(xattrs).length ? { xattrs } : {}),
  };
}

const ACCOUNTS = { passwd: new Map<number, string>(), group: new Map<number, string>() };

function nameOf(db: 'passwd' | 'group', id: number): string | null {
  return ACCOUNTS[db].get(id) ?? null;
}

/** Loads this machine's user and group names (as the capture records them). */
export async function loadAccounts(): Promise<void> {
  for (const db of ['passwd', 'group'] as const) {
    for (const line of (await readFile(`/etc/${db}`, 'utf8')).split('\n')) {
      const [name, , id] = line.split(':');
      if (name && id) ACCOUNTS[db].set(Number(id), name);
    }
  }
}

export interface Published {
  id: string;
  key: string;
}

/** Records the captured tree as a verified manual backup of `host` with a local copy and copies on `targets`. */
export async function publishBackup(
  pool: Pool,
  opts: {
    host: string;
    backupRoot: string;
    targets: StorageTarget[];
    captured: Captured;
    description: string;
  },
): Promise<Published> {
  const store = new BackupStore(pool, systemClock);
  await pool.query('INSERT INTO hosts (id, first_seen) VALUES ($1, now()) ON CONFLICT DO NOTHING', [
    opts.host,
  ]);
  const { backup } = await store.create({
    request: {
      host: opts.host,
      kind: 'manual',
      paths: ['/srv'],
      purpose: 'restore fixture',
      retention: 'days_7',
      description: opts.description,
    },
    targets: opts.targets.map((t) => ({ name: t.name, kind: t.kind, offsite: t.offsite })),
    dailyRetentionDays: 30,
  });
  const rows = opts.captured.files.map((f) => f.row);
  await store.transaction((tx) => store.saveSnapshot(tx, backup.id, rows, [], opts.captured.nodes));
  for (const f of opts.captured.files) {
    const local = path.join(opts.backupRoot, backup.key, f.row.storedPath);
    await mkdir(path.dirname(local), { recursive: true });
    await writeFile(local, f.bytes);
  }
  const detail = await store.detail(backup.id);
  // As replicate writes a copy: the listing chain settled once, its segments, then the manifest.
  const chain = await settleChain(pool, detail, new Map());
  for (const target of opts.targets) {
    for (const f of opts.captured.files)
      await putBlobIfAbsent(target, f.row.sha256, f.row.size, () => Readable.from([f.bytes]));
    await sendSegments(target, backup.host, chain, 4);
    await writeManifest(
      target,
      buildManifest(
        detail,
        new Map(),
        'listing',
        chain.map((s) => s.sha256),
      ),
    );
  }
  await store.transaction(async (tx) => {
    for (const t of ['local', ...opts.targets.map((x) => x.name)])
      await store.setCopy(tx, backup.id, t, 'verified', {});
  });
  return { id: backup.id, key: backup.key };
}

/** Puts raw manifest bytes on a target, bypassing every check: what an attacker with bucket access can do. */
export async function putRawManifest(
  target: StorageTarget,
  host: string,
  key: string,
  text: string,
): Promise<void> {
  const bytes = Buffer.from(text);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  await target.put(manifestKey(host, key), Readable.from([bytes]), { sha256, size: bytes.length });
}
