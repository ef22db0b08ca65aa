import { BACKUP_KEY, backupIdSchema, hostIdSchema, lineText } from '@fleet-backup/core';
import { z } from 'zod';

/** `:id` of a backup: a uuid. */
export const backupIdParams = z.strictObject({ id: backupIdSchema });

/** `:ticket` of a change, as the pre-change request named it (`change_ticket`). */
export const ticketParams = z.strictObject({ ticket: lineText(200) });

/** Who reports or acts (`verified_by`, `reported_by`, `by`): one printable line. */
export const actorName = lineText(200);

/** A count in a query string: digits only (no `0x10`, `1e2` or spaces), within min and max. */
export function countParam(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,9}$/, 'a whole number in decimal digits')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/** `?host=`: a host id, when given. */
export const hostQuery = hostIdSchema.optional();

/** A backup named by its uuid, or by its key (YYYYMMDD or YYYYMMDD_HHMM_description) with ?host= when keys repeat across hosts. */
export const backupRefParam = z.union(
  [backupIdSchema, z.string().regex(BACKUP_KEY, 'a uuid or a backup key')],
  {
    error: 'a backup id (uuid) or key (YYYYMMDD or YYYYMMDD_HHMM_description)',
  },
);
