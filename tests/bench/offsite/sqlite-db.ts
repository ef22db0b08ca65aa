// O3b's data: a SQLite database (node:sqlite) of incompressible rows that grows by 1% new rows and
// updates 0.1% of its rows each day, closed between days (rollback journal, so no -wal beside it).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/** Bytes of payload per row: about 18 rows to a 4 KiB page, so updates scatter over many pages. */
const ROW_BYTES = 200;

export interface DbSeries {
  file: string;
  rows: number;
}

/** A database file of about `bytes`, in rows of random payload. */
export async function writeDatabase(file: string, bytes: number): Promise<DbSeries> {
  await mkdir(path.dirname(file), { recursive: true });
  const rows = Math.max(100, Math.round(bytes / (ROW_BYTES + 20)));
  const db = new DatabaseSync(file);
  try {
    db.exec('PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096');
    db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, day INTEGER NOT NULL, payload BLOB NOT NULL)');
    insertRows(db, rows, 0);
  } finally {
    db.close();
  }
  return { file, rows };
}

/** One day's change: 1% new rows at the end, and 0.1% of the existing rows rewritten, spread out. */
export function changeDatabase(s: DbSeries, day: number): { inserted: number; updated: number } {
  const db = new DatabaseSync(s.file);
  try {
    db.exec('BEGIN');
    const inserted = Math.max(1, Math.round(s.rows * 0.01));
    const every = 1000;
    // Multiplicative hashing picks a different, evenly spread 0.1% of the rows each day.
    const updated = db
      .prepare(
        `UPDATE events SET day = ?, payload = randomblob(${ROW_BYTES})
          WHERE ((id * 2654435761 + ?) % ${every}) = 0`,
      )
      .run(day, day * 7919).changes;
    insertRows(db, inserted, day, false);
    db.exec('COMMIT');
    s.rows += inserted;
    return { inserted, updated: Number(updated) };
  } finally {
    db.close();
  }
}

function insertRows(db: DatabaseSync, count: number, day: number, ownTransaction = true): void {
  if (ownTransaction) db.exec('BEGIN');
  db.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO events (day, payload) SELECT ?, randomblob(${ROW_BYTES}) FROM n`,
  ).run(count, day);
  if (ownTransaction) db.exec('COMMIT');
}
