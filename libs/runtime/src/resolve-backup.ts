import { BadInputError, NotFoundFailure } from '@fleet-backup/core';
import type { BackupStore, Pool } from '@fleet-backup/db';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A key given without --host that more than one host's backups carry (every host has a `20260301`). */
export class AmbiguousBackupKey extends BadInputError {}

/**
 * The id of the backup a person named: its id, or its key (`YYYYMMDD`, `YYYYMMDD_HHMM_description`:
 * what the backup directory and backup_metadata.json show) with the host. A key alone is enough
 * when only one host has it. With `host`, an id must be that host's backup. NotFoundFailure when
 * there is none, AmbiguousBackupKey when a key needs its host.
 */
export async function resolveBackup(
  rt: { pool: Pool; backups: BackupStore },
  ref: string,
  host?: string,
): Promise<string> {
  const on = host ? ` of host ${host}` : '';
  if (UUID.test(ref)) {
    const backup = await rt.backups.get(ref);
    if (!backup || (host && backup.host !== host))
      throw new NotFoundFailure(`no backup ${ref}${on}; \`fleet-backup list\` shows ids and keys`, {
        backup: ref,
        host,
      });
    return backup.id;
  }
  const rows = (
    await rt.pool.query<{ id: string; host: string }>(
      'SELECT id, host FROM backups WHERE key = $1 AND ($2::text IS NULL OR host = $2) ORDER BY host',
      [ref, host ?? null],
    )
  ).rows;
  const [only] = rows;
  if (!only) {
    throw new NotFoundFailure(
      `no backup ${ref}${on}: name a backup by its id, or by its key (YYYYMMDD or YYYYMMDD_HHMM_description) with --host; \`fleet-backup list${host ? ` --host ${host}` : ''}\` shows them`,
      { backup: ref, host },
    );
  }
  if (rows.length > 1) {
    const hosts = rows.map((r) => r.host);
    throw new AmbiguousBackupKey(
      `key ${ref} names backups on several hosts (${hosts.slice(0, 10).join(', ')}${hosts.length > 10 ? ', …' : ''}); add --host`,
      { backup: ref, hosts },
    );
  }
  return only.id;
}
