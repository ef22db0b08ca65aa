import { type ChildProcess, spawn } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { waitFor } from './cli.ts';

const WRITER = fileURLToPath(new URL('./sqlite-writer.ts', import.meta.url));

/** The writer child process (tests/support/sqlite-writer.ts) and the last commit it reported. */
export class SqliteWriter {
  readonly child: ChildProcess;
  /** The highest counter value the writer has reported committed. */
  committed = 0;
  private log = '';

  constructor(file: string, mode: 'wal' | 'delete') {
    this.child = spawn(process.execPath, [WRITER, file, mode], { stdio: 'pipe' });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-4096);
      const lines = this.log.trimEnd().split('\n');
      const m = /(?:ready|committed) (\d+)$/.exec(lines[lines.length - 1] ?? '');
      if (m) this.committed = Math.max(this.committed, Number(m[1]));
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  async ready(): Promise<void> {
    await waitFor(() => this.committed > 0, {
      timeoutMs: 30_000,
      what: 'the writer',
      detail: () => this.log,
    });
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
}

export interface CopyCheck {
  integrity: string;
  count: number;
  max: number;
  tally: number;
  /** Every transaction wrote ten rows: a half-applied one leaves a batch short. */
  partialBatches: number;
}

/** Opens a copied database read-only and reads what the live-write tests assert. */
export function checkCopy(file: string): CopyCheck {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const integrity = String(db.prepare('PRAGMA integrity_check').get()?.integrity_check);
    const rows = db.prepare('SELECT count(*) AS c, coalesce(max(n), 0) AS m FROM rows').get();
    const tally = db.prepare('SELECT total FROM tally WHERE id = 1').get();
    const partial = db
      .prepare('SELECT count(*) AS p FROM (SELECT batch FROM rows GROUP BY batch HAVING count(*) <> 10)')
      .get();
    return {
      integrity,
      count: Number(rows?.c),
      max: Number(rows?.m),
      tally: Number(tally?.total),
      partialBatches: Number(partial?.p),
    };
  } finally {
    db.close();
  }
}
