import type { BackupKind } from './kinds.ts';

/** `YYYYMMDD` of a UTC instant. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10).replaceAll('-', '');
}

/** `HHMM` of a UTC instant. */
function utcMinute(at: Date): string {
  return at.toISOString().slice(11, 16).replace(':', '');
}

/** A description made safe for directory names and object keys: lowercase ascii words joined by '-'. */
export function slugify(description: string): string {
  const slug = description
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return slug || 'backup';
}

/**
 * The backup's metadata key, which is also its directory name under BACKUP_ROOT:
 * `YYYYMMDD` for a daily (one per host per UTC day), `YYYYMMDD_HHMM_description` otherwise,
 * so event backups never collide with the day's daily.
 */
export function backupKey(kind: BackupKind, created: Date, description?: string): string {
  if (kind === 'daily') return utcDay(created);
  return `${utcDay(created)}_${utcMinute(created)}_${slugify(description ?? kind)}`;
}

export const BACKUP_KEY = /^\d{8}(_\d{4}_[a-z0-9-]{1,48}(-\d+)?)?$/;
