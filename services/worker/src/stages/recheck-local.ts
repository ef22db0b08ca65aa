import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isKept, LOCAL_COPY } from '@fleet-backup/core';
import {
  type BackupDetail,
  CopyChecks,
  LocalChecks,
  type LocalFile,
  type RotFinder,
  RotFindings,
  sameStoredFile,
} from '@fleet-backup/db';
import type { JobContext, JobData } from '@fleet-backup/queue';
import type { Logger } from 'pino';
import { type AgentEnv, assertOwnHost } from '../agent-env.ts';
import { writeHostMetadataFile } from '../metadata-file.ts';
import {
  fetchLocalFile,
  healSources,
  type LocalRead,
  localFilesOf,
  localPath,
  readLocalFiles,
} from '../recheck/local-copy.ts';
import { sourceBytesBad } from '../recheck/replace-blob.ts';
import { settleCopy } from '../recheck/settle.ts';

interface CheckOptions {
  by: RotFinder;
  /** Set by `fleet-backup verify`, to find this run's result in the copy's detail. */
  checkId: string;
  signal: AbortSignal;
  log: Logger;
}

/**
 * verify-local (agent): reads one backup's local copy back in full. A file that reads bad marks
 * the copy corrupt (the backup loses verified and 3-2-1), is fetched again from a verified copy
 * on a target, and the copy is read again: verified once every file matches.
 */
export async function verifyLocal(
  env: AgentEnv,
  data: JobData<'verify-local'>,
  ctx: JobContext,
): Promise<void> {
  const backup = await env.rt.backups.require(data.backupId);
  assertOwnHost(env, backup);
  const hashed = (await env.rt.backups.stage(backup.id, 'hash'))?.status === 'done';
  if (!isKept(backup.lifecycle) || !hashed) {
    ctx.log.info({ backupId: backup.id }, 'local copy not checked: not written yet, or being removed');
    return;
  }
  await checkLocalBackup(env, backup.id, {
    by: data.by,
    checkId: data.checkId ?? randomUUID(),
    signal: ctx.signal,
    log: ctx.log,
  });
}

/**
 * recheck-local (agent): today's slice of the rolling re-read of this host's local copies, about
 * 1/RECHECK_WINDOW_DAYS of their bytes, oldest read first. A backup with a file that reads bad
 * is then checked in full and healed as verify-local does.
 */
export async function recheckLocal(
  env: AgentEnv,
  _data: JobData<'recheck-local'>,
  ctx: JobContext,
): Promise<void> {
  const local = new LocalChecks(env.rt.pool, env.rt.clock);
  const slice = await local.slice(env.host, env.rt.config.recheckWindowDays);
  const read = await readLocalFiles(env.backupRoot, slice, ctx.signal);
  for (const [backupId, files] of byBackup(read.good))
    await local.filesGood(
      backupId,
      files.map((f) => f.path),
    );
  const bad = new Set(read.bad.map((b) => b.file.backupId));
  for (const backupId of bad) {
    await checkLocalBackup(env, backupId, {
      by: 'recheck',
      checkId: randomUUID(),
      signal: ctx.signal,
      log: ctx.log,
    });
  }
  const bytes = slice.reduce((n, f) => n + f.size, 0);
  ctx.log.info(
    { files: slice.length, bytes, bad: read.bad.length, backups: bad.size },
    'local copies re-read',
  );
}

/**
 * Reads a backup's local copy in full, settles it, heals what reads bad, and settles it again.
 * A bad file may be one inode hardlinked into other backups of the series (capture/link-unchanged):
 * those backups are checked the same way, so each loses `verified` until it is healed.
 */
async function checkLocalBackup(
  env: AgentEnv,
  backupId: string,
  opts: CheckOptions,
  checked = new Set<string>(),
): Promise<void> {
  checked.add(backupId);
  const first = await checkOneLocal(env, backupId, opts);
  for (const other of first) {
    if (checked.has(other)) continue;
    await checkLocalBackup(env, other, { ...opts, checkId: randomUUID() }, checked);
  }
}

/** checkLocalBackup for one backup; returns the other backups sharing an inode with a bad file. */
async function checkOneLocal(env: AgentEnv, backupId: string, opts: CheckOptions): Promise<string[]> {
  const { rt } = env;
  const detail = await rt.backups.detail(backupId);
  const files = localFilesOf(detail);
  const first = await readAndRecord(env, backupId, files, opts.signal);
  const base = {
    checkedFiles: files.length,
    checkedBytes: files.reduce((n, f) => n + f.size, 0),
    by: opts.by,
  };
  const check = {
    id: opts.checkId,
    at: rt.clock.now().toISOString(),
    found: problemsOf(first),
    healed: [] as { path: string; from: string }[],
  };
  if (first.bad.length === 0) {
    await settleLocal(env, backupId, { ...base, check }, first);
    return [];
  }
  // Before healing: a healed file gets a new inode, and the others keep the bad one.
  const sharing = await backupsSharing(
    env,
    detail.backup.host,
    first.bad.map((b) => b.file),
  );
  const findings = new RotFindings(rt.pool, rt.clock);
  for (const { file, problem } of first.bad) {
    await findings.record({
      copy: LOCAL_COPY,
      host: env.host,
      backupId,
      object: objectOf(file),
      problem,
      foundBy: opts.by,
    });
  }
  opts.log.error(
    { backupId, key: detail.backup.key, problems: check.found.slice(0, 10) },
    'local copy is corrupt',
  );
  await settleLocal(env, backupId, { ...base, check }, first);
  const healed = await healLocal(env, detail, first.bad, opts);
  check.healed = healed;
  if (healed.length === 0) return sharing;
  const second = await readAndRecord(env, backupId, files, opts.signal);
  await settleLocal(env, backupId, { ...base, check }, second);
  if (second.bad.length === 0)
    opts.log.warn({ backupId, key: detail.backup.key, healed }, 'local copy healed and verified again');
  return sharing;
}

/** Other kept backups of the host whose stored file is the very inode of one of these files. */
async function backupsSharing(env: AgentEnv, host: string, files: LocalFile[]): Promise<string[]> {
  const out = new Set<string>();
  for (const file of files) {
    const bad = await stat(localPath(env.backupRoot, file), { bigint: true }).catch(() => null);
    if (!bad || bad.nlink < 2n) continue;
    const candidates = await sameStoredFile(env.rt.pool, {
      host,
      backupId: file.backupId,
      storedPath: file.storedPath,
      blobSha256: file.sha256,
    });
    for (const c of candidates) {
      const at = path.join(env.backupRoot, c.key, c.storedPath);
      const other = await stat(at, { bigint: true }).catch(() => null);
      if (other && other.ino === bad.ino && other.dev === bad.dev) out.add(c.backupId);
    }
  }
  return [...out];
}

async function readAndRecord(
  env: AgentEnv,
  backupId: string,
  files: LocalFile[],
  signal: AbortSignal,
): Promise<LocalRead> {
  const read = await readLocalFiles(env.backupRoot, files, signal);
  await new LocalChecks(env.rt.pool, env.rt.clock).filesGood(
    backupId,
    read.good.map((f) => f.path),
  );
  return read;
}

async function settleLocal(
  env: AgentEnv,
  backupId: string,
  detail: Record<string, unknown>,
  read: LocalRead,
) {
  const settled = await settleCopy(env.rt, {
    backupId,
    copy: LOCAL_COPY,
    problems: problemsOf(read),
    detail,
  });
  // The host's backup_metadata.json says whether each backup is verified: keep it true.
  if (settled && settled.status !== settled.previous)
    await writeHostMetadataFile(env.rt.pool, env.host, env.backupRoot);
}

/**
 * Fetches each bad file again from the backup's target copies, nearest first (healSources). A
 * target whose own bytes turn out bad is marked so (and a repair of it queued); one that cannot be
 * read (down, or credentials that may only write) is skipped. What no copy heals stays corrupt.
 */
async function healLocal(
  env: AgentEnv,
  detail: BackupDetail,
  bad: LocalRead['bad'],
  opts: CheckOptions,
): Promise<{ path: string; from: string }[]> {
  const { rt } = env;
  const healed: { path: string; from: string }[] = [];
  const findings = new RotFindings(rt.pool, rt.clock);
  const checks = new CopyChecks(rt.pool, rt.clock);
  for (const { file } of bad) {
    const marked = new Set<string>();
    for (const c of detail.copies)
      if ((await checks.badAmong(c.target, [file.sha256])).size) marked.add(c.target);
    for (const name of healSources(detail, (t) => marked.has(t))) {
      try {
        const place = await rt.blobs.placeOf(name, file.sha256);
        await fetchLocalFile(env.backupRoot, file, rt.targets.get(name), place, opts.signal);
        healed.push({ path: file.path, from: name });
        await findings.healed(LOCAL_COPY, env.host, objectOf(file), name);
        break;
      } catch (err) {
        opts.log.warn({ err, file: file.path, from: name }, 'could not fetch the file again from this copy');
        if (sourceBytesBad(err) && (await checks.blobBad(name, file, String(err)))) {
          await rt.queues.add('repair', { target: name });
        }
      }
    }
  }
  const unhealed = bad.filter((b) => !healed.some((h) => h.path === b.file.path));
  if (unhealed.length) {
    opts.log.error(
      { backupId: detail.backup.id, files: unhealed.map((b) => b.file.path).slice(0, 10) },
      `no copy on a target could heal these local files; run a new backup of host ${env.host}`,
    );
  }
  return healed;
}

const problemsOf = (read: LocalRead) => read.bad.map((b) => ({ path: b.file.path, problem: b.problem }));
const objectOf = (file: LocalFile) => `${file.key}/${file.storedPath}`;

function byBackup(files: LocalFile[]): Map<string, LocalFile[]> {
  const out = new Map<string, LocalFile[]>();
  for (const f of files) out.set(f.backupId, [...(out.get(f.backupId) ?? []), f]);
  return out;
}
