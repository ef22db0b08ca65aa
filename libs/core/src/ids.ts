import { z } from 'zod';

/**
 * Host ids appear in queue names, job ids, object keys and directory names, so they are kept to
 * a conservative alphabet (no ':' — BullMQ reserves it — and no '/').
 */
export const hostIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'host id: 1-63 chars of letters, digits, ".", "_" or "-"')
  .refine((s) => !/^\d+$/.test(s) && !s.includes('..'), 'host id must not be all digits or contain ".."');

/** A host id derived from a machine hostname: lowercased, unsupported characters replaced. */
export function hostIdFromHostname(hostname: string): string {
  const id = hostname
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63);
  return /^\d*$/.test(id) ? `host-${id || 'unknown'}` : id;
}

export const backupIdSchema = z.uuid();
