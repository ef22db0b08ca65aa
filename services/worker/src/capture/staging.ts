import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

/**
 * Where generated items are written before the snapshot copies them: BACKUP_ROOT/.staging. A
 * backup key never starts with a dot (BACKUP_KEY), so this is never taken for a backup, and the
 * walk never reads anything under BACKUP_ROOT.
 */
export const STAGING_DIR = '.staging';

/**
 * Who owns a staging directory, written into its name: the machine's boot, the process id, and
 * that process's start time (pids are reused; a pid with the same start time in the same boot is
 * the same process). A second agent for the same host (a rolling restart) can so tell a running
 * snapshot's staging from the leftovers of an agent that was killed, and leave the first alone.
 */
export interface StagingOwner {
  bootId: string;
  pid: number;
  /** Clock ticks since boot, field 22 of /proc/<pid>/stat. */
  start: string;
}

const NAME = /^(?<key>[^@/]+)@(?<boot>[0-9a-f-]{36})\.(?<pid>\d+)\.(?<start>\d+)\.[0-9a-f]+$/;

let self: Promise<StagingOwner> | null = null;

/** This process as an owner (read once). */
export function currentOwner(): Promise<StagingOwner> {
  self ??= (async () => {
    const start = await startTimeOf(process.pid);
    if (start === null) throw new Error(`cannot read /proc/${process.pid}/stat: the agent needs Linux /proc`);
    return { bootId: await bootId(), pid: process.pid, start };
  })();
  return self;
}

/**
 * Creates this process's staging directory for one capture of a backup (mode 0700), first
 * sweeping whatever no live process owns. Each capture gets its own, so not even a second run
 * of the same backup in this process can remove another's files.
 */
export async function createStaging(backupRoot: string, key: string): Promise<string> {
  await sweepStaging(backupRoot);
  const owner = await currentOwner();
  const name = `${key}@${owner.bootId}.${owner.pid}.${owner.start}.${randomBytes(4).toString('hex')}`;
  const dir = path.join(backupRoot, STAGING_DIR, name);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * Removes every staging directory no live process owns: left by an agent that was killed (its
 * pid is gone, or belongs to a younger process), by an earlier boot, or in the older unnamed
 * layout. A run killed mid-snapshot may have left secret values there (mode 0600), and its backup
 * may never run again, so each agent sweeps when it starts, and each capture before it stages.
 * Returns the names removed.
 */
export async function sweepStaging(backupRoot: string): Promise<string[]> {
  const parent = path.join(backupRoot, STAGING_DIR);
  const names = await readdir(parent).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (await ownerAlive(name)) continue;
    await rm(path.join(parent, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

async function ownerAlive(name: string): Promise<boolean> {
  const m = NAME.exec(name)?.groups;
  if (!m) return false;
  if (m.boot !== (await bootId())) return false;
  return (await startTimeOf(Number(m.pid))) === m.start;
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
}

/** A process's start time, or null when no such process runs (a zombie has ended: it counts as gone). */
export async function startTimeOf(pid: number): Promise<string | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19] ?? null;
}
