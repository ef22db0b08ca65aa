import { symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  DecryptionFailure,
  forEachLimited,
  type Keyring,
  NO_KEYS,
  PermanentFailure,
} from '@fleet-backup/core';
import {
  type AttributeContext,
  applyDirAttributes,
  applySymlinkAttributes,
  OwnershipDenied,
  type RestoreNote,
} from './attributes.ts';
import { RestoreDestinationError } from './destination-error.ts';
import { DirTree, inDir, PathInTheWay } from './dir-tree.ts';
import { BatchedLanding, type Written } from './landing.ts';
import type { RestoreFile, RestoreNode } from './model.ts';
import { OwnerMap } from './owners.ts';
import { AlreadyExists, placeEntry, tempName } from './place.ts';
import { deepestFirst, dirKey, type Placed, place } from './plan.ts';
import { preflight, refuseForeignOwners } from './preflight.ts';
import type { CopySource } from './sources.ts';
import { assertSafeRestoreSet } from './validate.ts';
import { checkRestoredFile, writeRestoredFile } from './write-file.ts';

export interface RestoreOptions {
  to: string;
  force: boolean;
  /** Keys for encrypted (sensitive) files; without the one a file needs, the restore fails naming it. */
  keyring?: Keyring;
  /** Directories (empty ones too) and symlinks to bring back with the files. */
  nodes?: RestoreNode[];
  /** Apply recorded mode, owner, mtime and xattrs (default true); a backup without them restores as plain files. */
  attributes?: boolean;
  /** Give entries their recorded owner (default true); false is `--no-owner`. */
  owner?: boolean;
  /** Files read and checked like the others but never written (a drill's generated items). */
  checkOnly?: (file: RestoreFile) => boolean;
  /** What the list came from, for a refusal's message (e.g. `manifest web-01/20260301 on target s3`). */
  where?: string;
  /** Told when a copy failed for a file and the next one is tried. */
  onFallback?: (file: RestoreFile, copy: string, error: Error) => void;
  /** Told as bytes land (for a progress bar): files done, and bytes written including the files in flight. */
  onProgress?: (p: { path: string; files: number; bytes: number }) => void;
  /** Files restored at once (default 8): each is a few requests and syscalls that would otherwise wait in turn. */
  parallel?: number;
}

const PARALLEL_FILES = 8;

export interface RestoredFile {
  path: string;
  sha256: string;
  size: number;
  copy: string;
  /** False for a file only checked (`checkOnly`). */
  written: boolean;
}

export interface RestoreResult {
  files: RestoredFile[];
  bytes: number;
  fallbacks: { path: string; copy: string; error: string }[];
  /** Directories and symlinks brought back. */
  dirs: number;
  symlinks: number;
  /** What could not be brought back besides the bytes (an xattr the filesystem refuses…). */
  notes: RestoreNote[];
}

/**
 * Restores files under `to` with their original names (no added suffixes), checking every
 * sha256 as the bytes stream through; then symlinks, then the directories' attributes. The list
 * is validated first (assertSafeRestoreSet) and everything that would stop the restore half-way
 * is found before anything is written. Nothing is written through a symlink: directories are
 * opened one level at a time without following, files are created O_EXCL|O_NOFOLLOW under a
 * short temporary name and renamed in their own directory. Copies are tried in the order given:
 * when one is unreachable or its bytes do not match, the next serves that file.
 */
export async function restoreFiles(
  files: RestoreFile[],
  sources: CopySource[],
  opts: RestoreOptions,
): Promise<RestoreResult> {
  if (!sources.length) throw new PermanentFailure('no copy to restore from: none is verified or reachable');
  const keyring = opts.keyring ?? NO_KEYS;
  const nodes = opts.nodes ?? [];
  assertSafeRestoreSet({ files, nodes }, opts.where ?? 'this backup');
  refuseMissingKeys(files, keyring);
  const ctx: AttributeContext | null =
    opts.attributes === false ? null : { owner: opts.owner !== false, owners: new OwnerMap(), notes: [] };
  const top = path.resolve(opts.to);
  const written = place(
    files.filter((f) => !opts.checkOnly?.(f)),
    top,
  );
  const links = place(
    nodes.filter((n) => n.type === 'symlink'),
    top,
  );
  const dirs = place(
    nodes.filter((n) => n.type === 'dir'),
    top,
  );
  if (ctx?.owner) await refuseForeignOwners([...written, ...links, ...dirs], ctx.owners);
  const tree = await DirTree.open(top);
  try {
    return await restoreInto({ tree, sources, keyring, ctx, opts, files }, { written, links, dirs });
  } finally {
    await tree.close();
  }
}

interface Planned {
  written: Placed<RestoreFile>[];
  links: Placed<RestoreNode>[];
  dirs: Placed<RestoreNode>[];
}

/** Checks the way, then writes: directories, files, symlinks, and the directories' attributes last. */
async function restoreInto(
  start: Omit<Run, 'modeFor' | 'result' | 'landing' | 'filesDone' | 'inFlightBytes'> & {
    files: RestoreFile[];
  },
  { written, links, dirs }: Planned,
): Promise<RestoreResult> {
  const { tree, ctx, opts } = start;
  await preflight(tree, [...written, ...links], dirs, opts.force);
  // Made private first; their recorded mode comes last, once nothing more is written in them.
  const restricted = new Set(ctx ? dirs.map((d) => dirKey([...d.parent, d.name])) : []);
  const modeFor = (key: string) => (restricted.has(key) ? 0o700 : 0o777);
  for (const d of dirs) await tree.dir([...d.parent, d.name], { create: true, modeFor });
  const result: RestoreResult = {
    files: [],
    bytes: 0,
    fallbacks: [],
    dirs: dirs.length,
    symlinks: 0,
    notes: [],
  };
  const landing = await BatchedLanding.create(tree, opts.force);
  const run: Run = { ...start, modeFor, result, landing, filesDone: 0, inFlightBytes: 0 };
  const at = new Map(written.map((p) => [p.entry, p]));
  // Files land out of order; the result lists them in the order asked.
  const done: RestoredFile[] = [];
  await forEachLimited(
    readOrder(start.files, start.sources[0]),
    opts.parallel ?? PARALLEL_FILES,
    async (index) => {
      const file = start.files[index] as RestoreFile;
      done[index] = await restoreOneFile(run, file, at.get(file) ?? null);
    },
  )
    .then(() => landing?.flush())
    .catch(async (err: unknown) => {
      await landing?.discard();
      result.files = done.filter(Boolean);
      throw err;
    });
  result.files = done;
  for (const link of links) await restoreSymlink(run, link);
  if (ctx) {
    for (const d of deepestFirst(dirs)) {
      const handle = await tree.dir([...d.parent, d.name], { create: false });
      if (handle) await applyDirAttributes(handle, d.display, d.entry.attrs, ctx);
    }
    result.notes = ctx.notes;
  }
  await syncDirectories(tree, [...written, ...links]);
  return result;
}

/** The files' indexes in the order the first copy reads best (CopySource.readOrder); ties keep the order asked. */
function readOrder(files: RestoreFile[], source: CopySource | undefined): number[] {
  const indexes = files.map((_, i) => i);
  if (!source?.readOrder) return indexes;
  const keys = files.map((f) => (source.readOrder as (f: RestoreFile) => string)(f));
  return indexes.sort((a, b) =>
    (keys[a] as string) < (keys[b] as string) ? -1 : keys[a] === keys[b] ? a - b : 1,
  );
}

interface Run {
  tree: DirTree;
  sources: CopySource[];
  keyring: Keyring;
  ctx: AttributeContext | null;
  opts: RestoreOptions;
  modeFor: (key: string) => number;
  result: RestoreResult;
  /** Where written files wait for their final names (null: each is synced and renamed at once). */
  landing: BatchedLanding | null;
  /** For progress: files done, and bytes of the files in flight so far. */
  filesDone: number;
  inFlightBytes: number;
}

/** One file from the first copy that serves it intact; `at` is null for a file only checked. */
async function restoreOneFile(
  run: Run,
  file: RestoreFile,
  at: Placed<RestoreFile> | null,
): Promise<RestoredFile> {
  const { result, opts } = run;
  let inFlight = 0;
  const progress = (written: number) => {
    run.inFlightBytes += written - inFlight;
    inFlight = written;
    opts.onProgress?.({ path: file.path, files: run.filesDone, bytes: result.bytes + run.inFlightBytes });
  };
  const errors: string[] = [];
  let copy: string | null = null;
  let waiting: Written | null = null;
  for (const source of run.sources) {
    try {
      const input = () => source.open(file);
      if (at) {
        const temp = await run.tree.use(at.parent, { create: true, modeFor: run.modeFor }, async (dir) => {
          if (!dir) throw new Error(`cannot open the directory of ${at.display}`);
          return writeRestoredFile(
            {
              file,
              dir,
              name: at.name,
              display: at.display,
              force: opts.force,
              keyring: run.keyring,
              attrs: run.ctx,
              onWritten: progress,
              landLater: (await run.landing?.covers(dir, dirKey(at.parent))) ?? false,
            },
            input,
          );
        });
        if (temp !== null)
          waiting = { parent: at.parent, temp, name: at.name, display: at.display, size: file.size };
      } else await checkRestoredFile(file, input, run.keyring);
      copy = source.name;
      break;
    } catch (err) {
      progress(0);
      const error = err instanceof Error ? err : new Error(String(err));
      // The place is wrong, not the copy: another copy would fail the same way.
      if (isPlaceProblem(error)) throw error;
      errors.push(`${source.name}: ${error.message}`);
      result.fallbacks.push({ path: file.path, copy: source.name, error: error.message });
      opts.onFallback?.(file, source.name, error);
    }
  }
  if (copy === null)
    throw new PermanentFailure(`could not restore ${file.path} from any copy (${errors.join('; ')})`, {
      result,
    });
  // Outside the loop over copies: a batch that cannot land is no reason to read another copy.
  if (waiting) await run.landing?.add(waiting);
  run.filesDone++;
  result.bytes += file.size;
  progress(0);
  return { path: file.path, sha256: file.sha256, size: file.size, copy, written: !!at };
}

/** A symlink, with its exact target (bytes when recorded so), created under a temporary name and renamed into place. */
async function restoreSymlink(run: Run, link: Placed<RestoreNode>): Promise<void> {
  const dir = await run.tree.dir(link.parent, { create: true, modeFor: run.modeFor });
  if (!dir) throw new Error(`cannot open the directory of ${link.display}`);
  const temp = tempName();
  const target = link.entry.targetBytes ?? Buffer.from(link.entry.target ?? '', 'utf8');
  await symlink(target, inDir(dir.fd, temp));
  try {
    if (run.ctx)
      await applySymlinkAttributes(
        `/proc/self/fd/${dir.fd}/${temp}`,
        link.display,
        link.entry.attrs,
        run.ctx,
      );
    await placeEntry(dir.fd, temp, link.name, { force: run.opts.force, display: link.display });
  } catch (err) {
    await unlink(inDir(dir.fd, temp)).catch(() => {});
    throw err;
  }
  run.result.symlinks++;
}

/** The renames are durable once their directories are: one fsync per directory written in. */
async function syncDirectories(tree: DirTree, entries: Placed<unknown>[]): Promise<void> {
  const seen = new Set<string>();
  for (const e of entries) {
    const key = dirKey(e.parent);
    if (seen.has(key)) continue;
    seen.add(key);
    const handle = await tree.dir(e.parent, { create: false });
    await handle?.sync().catch(() => {});
  }
}

function isPlaceProblem(error: Error): boolean {
  return (
    error instanceof PathInTheWay ||
    error instanceof AlreadyExists ||
    error instanceof OwnershipDenied ||
    error instanceof RestoreDestinationError
  );
}

/**
 * Checked before anything is written: a restore that would fail half-way for want of a key
 * fails at once, naming each file and the key id it needs.
 */
function refuseMissingKeys(files: RestoreFile[], keyring: Keyring): void {
  const missing = files.filter((f) => f.encrypted && !keyring.has(f.encrypted.keyId));
  if (!missing.length) return;
  const ids = [...new Set(missing.map((f) => f.encrypted?.keyId))];
  const list = missing.map((f) => `${f.path} (key ${f.encrypted?.keyId})`);
  throw new DecryptionFailure(
    `cannot restore ${missing.length} encrypted file(s) without encryption key ${ids.join(', ')}: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', …' : ''}; configure ${ids.length > 1 ? 'those keys' : 'that key'} in ENCRYPTION_KEY or ENCRYPTION_OLD_KEYS`,
    { keyIds: ids, files: missing.map((f) => f.path) },
  );
}
