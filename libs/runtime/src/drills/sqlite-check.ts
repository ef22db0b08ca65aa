import { open } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { SQLITE_HEADER } from '@fleet-backup/core';

// Runs in a worker thread: `integrity_check` reads the whole database synchronously, and on the
// main thread a large one would stall the event loop past the job's lock renewal. Inline source
// (eval), so the production bundle needs no second file. Read-only: a drill never changes a copy.
const CHECK_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const message = (err) => (err instanceof Error ? err.message : String(err));
let db;
try {
  db = new DatabaseSync(workerData.file, { readOnly: true });
} catch (err) {
  parentPort.postMessage({ openError: message(err) });
}
if (db) {
  try {
    const rows = db.prepare('PRAGMA integrity_check(20)').all();
    parentPort.postMessage({ result: rows.map((r) => String(r.integrity_check)) });
  } catch (err) {
    // SQLite gives up on some damage with an error instead of a list of findings.
    parentPort.postMessage({ result: [message(err)] });
  } finally {
    db.close();
  }
}
`;

type CheckAnswer = { result?: string[]; openError?: string };

/** True when the file starts with SQLite's 16-byte header (the class table's own test). */
export async function isSqliteFile(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.equals(SQLITE_HEADER);
  } finally {
    await handle.close();
  }
}

/**
 * Opens a SQLite file read-only and runs `PRAGMA integrity_check`. Returns null when it says
 * `ok`, else what is wrong (SQLite's first findings, or why it could not open the file).
 */
export function sqliteIntegrityProblem(file: string, signal?: AbortSignal): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CHECK_SOURCE, { eval: true, workerData: { file } });
    const onAbort = () => void worker.terminate();
    signal?.addEventListener('abort', onAbort, { once: true });
    let answer: CheckAnswer | undefined;
    worker.on('message', (m: CheckAnswer) => (answer = m));
    worker.on('error', reject);
    worker.on('exit', () => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return reject(signal.reason);
      if (!answer) return reject(new Error(`the integrity check of ${file} ended without an answer`));
      if (answer.openError !== undefined) return resolve(`SQLite cannot open it (${answer.openError})`);
      const lines = answer.result ?? [];
      resolve(
        lines.length === 1 && lines[0] === 'ok' ? null : `integrity_check: ${lines.slice(0, 5).join('; ')}`,
      );
    });
  });
}
