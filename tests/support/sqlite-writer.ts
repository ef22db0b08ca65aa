import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A stand-in for an application writing to its SQLite database: `node sqlite-writer.ts FILE MODE`
 * commits transactions of ten rows, each row numbered by a gap-free counter `n`, and a tally row
 * updated in the same transaction. After each commit it prints `committed N`, so a test knows
 * which transactions were committed before it took a snapshot. Runs until killed.
 */
const [file, mode] = process.argv.slice(2);
if (!file || !mode) throw new Error('usage: sqlite-writer.ts FILE wal|delete');
// The backup holds a read lock while it copies; in rollback-journal mode a commit waits for it.
const db = new DatabaseSync(file, { timeout: 30_000 });
db.exec(`PRAGMA journal_mode = ${mode === 'wal' ? 'WAL' : 'DELETE'}`);
db.exec(`CREATE TABLE IF NOT EXISTS rows (n INTEGER PRIMARY KEY, batch INTEGER NOT NULL, pad BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS tally (id INTEGER PRIMARY KEY CHECK (id = 1), total INTEGER NOT NULL);
  INSERT OR IGNORE INTO tally VALUES (1, 0);`);
const last = db.prepare('SELECT coalesce(max(n), 0) AS n FROM rows');
const insert = db.prepare('INSERT INTO rows (n, batch, pad) VALUES (?, ?, randomblob(400))');
const tally = db.prepare('UPDATE tally SET total = ? WHERE id = 1');

function commitOne(batch: number): number {
  db.exec('BEGIN IMMEDIATE');
  try {
    let n = Number(last.get()?.n);
    for (let i = 0; i < 10; i++) insert.run(++n, batch);
    tally.run(n);
    db.exec('COMMIT');
    return n;
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

for (let batch = 1; batch <= 300; batch++) commitOne(batch);
process.stdout.write(`ready ${Number(last.get()?.n)}\n`);
for (let batch = 301; ; batch++) {
  process.stdout.write(`committed ${commitOne(batch)}\n`);
  // WAL mode writes flat out; a rollback-journal writer pauses a little, as an application does
  // between requests, or its back-to-back exclusive locks would starve every reader.
  await sleep(mode === 'wal' ? 0 : 3);
}
