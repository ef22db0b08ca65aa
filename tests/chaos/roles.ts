import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { manualBackup, type RoleProcess, waitFor } from '../support/cli.ts';
import type { Stack } from '../support/stack.ts';
import { makeTree, writeLarge } from '../support/tree.ts';

/** What ends, or would end, a role process: Node's own report of an error nobody handled. */
const CRASH_MARKS = /uncaught|Unhandled 'error' event|ERR_STREAM_UNABLE_TO_PIPE/i;

/** Watches role processes for an exit or an uncaught error, from now until the test looks. */
export function watchRoles(roles: RoleProcess[]): { crashes(): string[] } {
  const exits: string[] = [];
  for (const role of roles) {
    role.child.on('exit', (code, signal) =>
      exits.push(`${role.name} exited (code ${code}, signal ${signal})`),
    );
  }
  return {
    crashes() {
      const logged = roles.flatMap((role) =>
        role.log
          .split('\n')
          .filter((line) => CRASH_MARKS.test(line))
          .slice(0, 3)
          .map((line) => `${role.name}: ${line.slice(0, 300)}`),
      );
      return [...exits, ...logged];
    },
  };
}

/**
 * `count` sources of a few small files each (plus `extraFiles` tiny ones, for backups that take
 * longer), every one with its own bytes, so each backup uploads blobs of its own.
 */
export async function makeSources(
  stack: Stack,
  label: string,
  count: number,
  extraFiles = 0,
): Promise<string[]> {
  const sources: string[] = [];
  for (let i = 0; i < count; i++) {
    const source = path.join(stack.iso.dir, `${label}-src-${i}`);
    await makeTree(source, { largeBytes: 64 * 1024 });
    await writeLarge(path.join(source, 'unique.bin'), 300 * 1024 + i, `${label}-${i}`);
    await mkdir(path.join(source, 'many'), { recursive: true });
    for (let f = 0; f < extraFiles; f++) {
      await writeFile(path.join(source, 'many', `f${f}.txt`), `${label} ${i} ${f}\n`);
    }
    sources.push(source);
  }
  return sources;
}

/** Asks for a manual backup of each source through the CLI; returns their ids. */
export async function requestBackups(stack: Stack, host: string, sources: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, source] of sources.entries()) {
    const run = await stack.cli(manualBackup(host, `chaos-${i}`, [source], '--json'));
    if (run.code !== 0) throw new Error(`backup of ${source} exited ${run.code}: ${run.stderr}`);
    ids.push((JSON.parse(run.stdout) as { id: string }).id);
  }
  return ids;
}

/** Status of each backup, from Postgres. */
export async function statuses(stack: Stack, ids: string[]): Promise<Map<string, string>> {
  const r = await stack.iso.pool.query<{ id: string; status: string }>(
    'SELECT id, status FROM backups WHERE id = ANY($1)',
    [ids],
  );
  return new Map(r.rows.map((row) => [row.id, row.status]));
}

/** Waits until every backup is verified; fails at once when one failed for good. */
export async function waitAllVerified(
  stack: Stack,
  ids: string[],
  timeoutMs: number,
  more: () => string = () => '',
): Promise<void> {
  let last = '';
  await waitFor(
    async () => {
      const now = await statuses(stack, ids);
      last = ids.map((id) => `${id.slice(0, 8)} ${now.get(id)}`).join(', ');
      const failed = ids.filter((id) => now.get(id) === 'failed');
      if (failed.length > 0) throw new Error(`backups failed for good: ${failed.join(', ')}`);
      return ids.every((id) => now.get(id) === 'verified');
    },
    {
      timeoutMs,
      intervalMs: 1000,
      what: `${ids.length} backups to be verified`,
      detail: () => `statuses: ${last}\n${more()}`,
    },
  );
}
