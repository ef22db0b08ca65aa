import { createReadStream } from 'node:fs';
import { type FileHandle, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  EntryChanged,
  EntryVanished,
  type FoundManifest,
  findManifests,
  openRealFile,
  type WalkLimits,
} from '@fleet-backup/capture';
import type { DependenciesConfig } from '@fleet-backup/config';
import { PermanentFailure } from '@fleet-backup/core';
import { type CappedWrite, createPrivate, writeCapped } from './capped-write.ts';
import { type CommandResult, runCommand } from './run-command.ts';

/**
 * The format of `dependencies.config`, version 1: a comment line, then records. Each record is
 * one JSON header line, then exactly `bytes` bytes of body, then a newline:
 *
 *   {"record":"manifest","path":"/srv/app/package.json","size":312,"sha256":"…","truncated":false,"bytes":312}
 *   <the file's bytes>
 *   {"record":"manifest","path":"/srv/app/go.sum","error":"not found","bytes":0}
 *
 *   {"record":"command","name":"dpkg","argv":["dpkg-query","-W"],"cwd":null,"exitCode":0,"signal":null,
 *    "error":null,"timedOut":false,"truncated":false,"stderr":"","bytes":48210}
 *   <the command's stdout>
 *
 * (each header is a single line). Manifests come first, sorted by path; a manifest's `size` and
 * `sha256` are of the whole file even when only the first `bytes` are embedded (`truncated`).
 * Commands follow in configured order; a command that failed, timed out or could not start is
 * still a record, with what is known. Bodies are raw bytes, so the file reads as text in a pager
 * and parses exactly: read a line, JSON.parse it, read `bytes` bytes, skip one newline. Nothing
 * time-dependent is written, so an unchanged host gives the same bytes.
 */
export const DEPENDENCIES_HEADER =
  '# fleet-backup dependencies v1: records of one JSON header line, then exactly `bytes` bytes of body, then a newline\n';

export interface DependenciesSummary {
  manifests: { path: string; size: number; truncated: boolean }[];
  problems: { path: string; error: string }[];
  commands: ({ name: string } & Omit<CommandResult, 'stderr'>)[];
}

/**
 * Writes `dependencies.config` to `outFile`, each part streamed through its own file in `workDir`
 * first (a body's length must be known before its header, and memory stays one chunk deep).
 * Throws only for the agent's own trouble (its staging disk) or an abort.
 */
export async function buildDependencies(
  config: DependenciesConfig,
  limits: WalkLimits,
  workDir: string,
  outFile: string,
  signal: AbortSignal,
): Promise<DependenciesSummary> {
  const summary: DependenciesSummary = { manifests: [], problems: [], commands: [] };
  const out = await createPrivate(outFile);
  const part = path.join(workDir, 'dependencies.part');
  try {
    await out.write(DEPENDENCIES_HEADER);
    const found = await findManifests(config.manifests, limits);
    const records = [...found.files, ...found.problems].sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
    );
    for (const m of records) {
      signal.throwIfAborted();
      // A problem found while searching and one met while reading are recorded alike.
      const taken = 'error' in m ? m : await takeManifest(m, part, config.maxManifestBytes);
      if ('error' in taken) {
        summary.problems.push({ path: m.path, error: taken.error });
        await out.write(headerLine({ record: 'manifest', path: m.path, error: taken.error, bytes: 0 }));
        await out.write('\n');
        continue;
      }
      summary.manifests.push({ path: m.path, size: taken.size, truncated: taken.truncated });
      await out.write(
        headerLine({
          record: 'manifest',
          path: m.path,
          size: taken.size,
          sha256: taken.sha256,
          truncated: taken.truncated,
          bytes: taken.kept,
        }),
      );
      await appendPart(out, part);
    }
    for (const cmd of config.commands) {
      signal.throwIfAborted();
      const result = await runCommand(cmd, part, signal);
      signal.throwIfAborted();
      const { stderr, ...status } = result;
      summary.commands.push({ name: cmd.name, ...status });
      await out.write(
        headerLine({
          record: 'command',
          name: cmd.name,
          argv: cmd.argv,
          cwd: cmd.cwd ?? null,
          exitCode: result.exitCode,
          signal: result.signal,
          error: result.error,
          timedOut: result.timedOut,
          truncated: result.truncated,
          stderr,
          bytes: result.outputBytes,
        }),
      );
      await appendPart(out, part);
    }
  } finally {
    await out.close();
    await rm(part, { force: true });
  }
  return summary;
}

function headerLine(header: Record<string, unknown>): string {
  // JSON.stringify escapes every newline inside strings, so a header is always one line.
  return `${JSON.stringify(header)}\n`;
}

/**
 * Copies a manifest into the part file. It is opened by its checked real path without following
 * a symlink, and only if the kernel reached it at exactly that path
 * (libs/capture/src/verified-open.ts): a directory swapped for a symlink since the check cannot
 * send another file into this record. A file that vanished, changed or cannot be read is a
 * problem, not a failure.
 */
async function takeManifest(
  m: FoundManifest,
  part: string,
  cap: number,
): Promise<CappedWrite | { error: string }> {
  let opened: Awaited<ReturnType<typeof openRealFile>>;
  try {
    opened = await openRealFile(m.readFrom, m.path);
  } catch (err) {
    if (err instanceof EntryVanished) return { error: 'vanished during the backup' };
    if (err instanceof EntryChanged) return { error: err.message };
    if (err instanceof PermanentFailure) return { error: 'permission denied' };
    throw err;
  }
  try {
    const out = await createPrivate(part);
    try {
      return await writeCapped(opened.handle.createReadStream({ autoClose: false }), out, cap);
    } finally {
      await out.close();
    }
  } catch (err) {
    await rm(part, { force: true });
    throw err;
  } finally {
    await opened.handle.close();
  }
}

/** Appends the part file as a record's body (then the newline that ends the record) and removes it. */
async function appendPart(out: FileHandle, part: string): Promise<void> {
  for await (const chunk of createReadStream(part)) await out.write(chunk as Buffer);
  await out.write('\n');
  await rm(part);
}
