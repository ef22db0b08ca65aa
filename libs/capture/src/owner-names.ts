import { readFile } from 'node:fs/promises';

/** The host's names for uids and gids, read once per snapshot (a restore maps names back first, as tar does). */
export interface OwnerNames {
  user(uid: number): string | null;
  group(gid: number): string | null;
}

/**
 * Reads `/etc/passwd` and `/etc/group` (the files themselves, as `ls -l` without NSS would: a
 * directory service's names are not looked up). An id with no entry, or a missing file, gives null.
 */
export async function loadOwnerNames(passwd = '/etc/passwd', group = '/etc/group'): Promise<OwnerNames> {
  const [users, groups] = await Promise.all([idNames(passwd), idNames(group)]);
  return { user: (uid) => users.get(uid) ?? null, group: (gid) => groups.get(gid) ?? null };
}

/** `name:x:id:…` lines → id → name; the first name wins for an id listed twice, as getpwuid does. */
async function idNames(file: string): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (!name || id === undefined || !/^\d+$/.test(id)) continue;
    const n = Number(id);
    if (!names.has(n)) names.set(n, name);
  }
  return names;
}
