import { LIFECYCLE_ENDED, LIFECYCLE_ENDING, LIFECYCLE_GONE } from '@fleet-backup/core';

/** SQL list literals of lifecycle values; built from constants, never from input. */
const list = (values: readonly string[]) => `(${values.map((v) => `'${v}'`).join(', ')})`;
export const SQL_GONE = list(LIFECYCLE_GONE);
export const SQL_ENDING = list(LIFECYCLE_ENDING);
export const SQL_ENDED = list(LIFECYCLE_ENDED);

/** SQL condition on a backups row with this alias: kept, i.e. neither going nor gone. */
export const keptSql = (alias: string) =>
  `(${alias}.lifecycle IS NULL OR ${alias}.lifecycle NOT IN ${SQL_GONE})`;
/** The same for the alias `b`. */
export const SQL_KEPT = keptSql('b');
/** SQL condition on a backups row with this alias: not ended, i.e. kept or still going. */
export const notEndedSql = (alias: string) =>
  `(${alias}.lifecycle IS NULL OR ${alias}.lifecycle NOT IN ${SQL_ENDED})`;
