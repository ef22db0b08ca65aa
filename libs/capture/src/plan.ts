import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { HostConfig } from '@fleet-backup/config';
import {
  BadInputError,
  classify,
  DEFAULT_SECRET_PATTERNS,
  type Keyring,
  NO_KEYS,
  SQLITE_HEADER,
} from '@fleet-backup/core';
import type { FoundFile, SkippedItem } from './found.ts';
import { type PlannedSystemState, planSystemState } from './plan-state.ts';
import { allowedRoots, walkRoots } from './roots.ts';
import { readHead } from './sqlite-head.ts';
import { type CaptureDecisions, companionOf, isDatabaseCompanion, skipReason } from './take-or-skip.ts';
import { TreeReader } from './tree-reader.ts';
import { walk } from './walk.ts';

export interface PlannedFile {
  path: string;
  size: number;
  /** A sensitive file: stored encrypted with this key id. */
  encryptedWith?: string;
}

export interface PlannedSkip {
  path: string;
  reason: string;
  /** A skipped directory's size is everything beneath it, and `files` counts its files. */
  dir: boolean;
  size: number;
  files: number;
}

export interface BackupPlan {
  host: string;
  sources: string[];
  taken: PlannedFile[];
  skipped: PlannedSkip[];
  totals: { takenFiles: number; takenBytes: number; skippedFiles: number; skippedBytes: number };
  /** The key sensitive files would be encrypted with; null: they are skipped, never copied. */
  encryptionKey: string | null;
  /** The generated environment.config / dependencies.config (names and sizes, never values). */
  systemState: PlannedSystemState;
}

/**
 * What a backup of the host's configured sources would take and skip, with the rule behind
 * each skip and the sizes, read from the files themselves and writing nothing: it runs on the
 * host, with the same walk and the same take-or-skip rule (take-or-skip.ts) as the agent's
 * snapshot stage. A database with a SQLite header is expected to go through SQLite, so its
 * `-wal` / `-shm` are listed as skipped, as the snapshot skips them.
 */
export async function planBackup(
  host: string,
  hostConfig: HostConfig,
  backupRoot: string,
  secretPatterns: readonly string[] = DEFAULT_SECRET_PATTERNS,
  keyring: Keyring = NO_KEYS,
): Promise<BackupPlan> {
  const sources = hostConfig.sources.map((s) => s.path);
  if (!sources.length)
    throw new BadInputError(`host ${host} has no sources in the config file; nothing to plan`);
  const found = await walk(walkRoots(sources, hostConfig), {
    backupRoot,
    allowedRoots: allowedRoots(hostConfig),
  });
  const keyId = keyring.currentId;
  const { taken, toSkip } = await decideAll(found.files, found.skipped, keyId);
  const skipped: PlannedSkip[] = [];
  // Files an include rescued from a skipped directory count as taken, not twice.
  const takenPaths = new Set(taken.map((f) => f.path));
  for (const s of toSkip) {
    const measured = s.dir ? await sizeOfTree(s.path, takenPaths) : await sizeOf(s.path);
    skipped.push({ path: s.path, reason: s.reason, dir: s.dir === true, ...measured });
  }
  const sum = (xs: { size: number }[]) => xs.reduce((n, x) => n + x.size, 0);
  return {
    host,
    sources,
    taken,
    skipped,
    totals: {
      takenFiles: taken.length,
      takenBytes: sum(taken),
      skippedFiles: skipped.reduce((n, s) => n + s.files, 0),
      skippedBytes: sum(skipped),
    },
    encryptionKey: keyId,
    systemState: await planSystemState(hostConfig, backupRoot, secretPatterns, keyId),
  };
}

/** The snapshot's own loop, minus the copy: the same rule, in the same (path) order. */
async function decideAll(
  files: FoundFile[],
  walkSkipped: SkippedItem[],
  keyId: string | null,
): Promise<{ taken: PlannedFile[]; toSkip: SkippedItem[] }> {
  const decisions: CaptureDecisions = { keyId, sqliteSnapshots: new Set() };
  const withCompanions = new Set(files.map((f) => companionOf(f.path)).filter((p) => p !== null));
  const taken: PlannedFile[] = [];
  const toSkip = [...walkSkipped];
  const reader = new TreeReader();
  try {
    for (const f of files) {
      const reason = skipReason(f, decisions);
      if (reason !== null) {
        toSkip.push({ path: f.path, reason });
        continue;
      }
      taken.push({
        path: f.path,
        size: f.size,
        ...(f.sensitive && keyId !== null && { encryptedWith: keyId }),
      });
      // Only a database with companions beside it needs its header read to know their fate.
      if (withCompanions.has(f.path) && (await goesThroughSqlite(f, reader)))
        decisions.sqliteSnapshots.add(f.path);
    }
  } finally {
    await reader.close();
  }
  return { taken, toSkip };
}

/** As the snapshot decides: a database (by name or header), not a companion, with SQLite's header. */
async function goesThroughSqlite(f: FoundFile, reader: TreeReader): Promise<boolean> {
  if (isDatabaseCompanion(f.path)) return false;
  const opened = await reader.open(f).catch(() => null);
  if (!opened) return false;
  try {
    const head = await readHead(opened.handle);
    return classify(f.path, head, f.config) === 'database' && head.equals(SQLITE_HEADER);
  } finally {
    await opened.close();
  }
}

async function sizeOf(p: string): Promise<{ size: number; files: number }> {
  const info = await lstat(p).catch(() => null);
  return info?.isFile() ? { size: info.size, files: 1 } : { size: 0, files: 0 };
}

/** Bytes and files beneath a skipped directory, symlinks not followed (as `du` counts them). */
async function sizeOfTree(dir: string, taken: Set<string>): Promise<{ size: number; files: number }> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return { size: 0, files: 0 };
  }
  let size = 0;
  let files = 0;
  for (const e of entries) {
    const file = path.join(e.parentPath, e.name);
    if (!e.isFile() || taken.has(file)) continue;
    size += (await sizeOf(file)).size;
    files++;
  }
  return { size, files };
}
