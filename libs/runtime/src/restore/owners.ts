import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { FileAttributes } from '@fleet-backup/core';

type Database = 'passwd' | 'group';

/**
 * Maps a recorded owner back to this machine's ids the way tar does: by name first (a user
 * `www-data` may have another uid here than on the host that was backed up), else the recorded
 * numeric id. Names are looked up through NSS (`getent`, so LDAP and sssd users resolve), or in
 * /etc/passwd and /etc/group where getent is missing; each name once per restore.
 */
export class OwnerMap {
  private readonly cache = new Map<string, Promise<number | null>>();

  async ids(attrs: FileAttributes): Promise<{ uid: number; gid: number }> {
    const uid = attrs.owner === null ? null : await this.lookup('passwd', attrs.owner);
    const gid = attrs.group === null ? null : await this.lookup('group', attrs.group);
    return { uid: uid ?? attrs.uid, gid: gid ?? attrs.gid };
  }

  private lookup(db: Database, name: string): Promise<number | null> {
    const key = `${db}:${name}`;
    let found = this.cache.get(key);
    if (!found) {
      found = lookupName(db, name);
      this.cache.set(key, found);
    }
    return found;
  }
}

async function lookupName(db: Database, name: string): Promise<number | null> {
  // A name that getent would read as an option, or that no passwd line can hold, is no name here.
  if (!/^[^-:\s][^:\s]*$/.test(name)) return null;
  try {
    return idOfLine(await getent(db, name), name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    const file = await readFile(`/etc/${db}`, 'utf8').catch(() => '');
    return idOfLine(file.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '', name);
  }
}

/** `getent passwd NAME`: its one line, '' when not found (exit 2); ENOENT when getent is missing. */
function getent(db: Database, name: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('getent', [db, name], { timeout: 10_000 }, (err, stdout) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(err);
      else resolve(err ? '' : stdout);
    });
  });
}

/** The id (third field) of a `name:x:id:…` line. */
function idOfLine(line: string, name: string): number | null {
  const fields = line.trim().split(':');
  if (fields[0] !== name) return null;
  const id = Number(fields[2]);
  return Number.isInteger(id) && id >= 0 ? id : null;
}
