import { readdir, readFile } from 'node:fs/promises';
import { ADVISORY_LOCKS } from './advisory-locks.ts';
import { isConnectionLoss, withAdvisoryLock } from './checkout.ts';
import type { Pool } from './pool.ts';

// Resolved through the package name, so it holds from the sources and from the production bundle.
const MIGRATIONS_DIR = new URL('./', import.meta.resolve('@fleet-backup/db/migrations/001_init.sql'));
// Serialises concurrent `migrate` runs from several processes starting at once.
const MIGRATION_LOCK = ADVISORY_LOCKS.migration;

export interface MigrateOptions {
  /** How many runs in all while the connection keeps being lost (a failover, pg_terminate_backend). Default 6. */
  attempts?: number;
  /** Wait before the first run again, doubling each time. Default 1000 ms. */
  backoffMs?: number;
  /** Told before each run again, with the error that cut the previous one short. */
  onRetry?: (err: Error, attempt: number) => void;
  /** Stop after this migration file (tests of a later migration start from an older schema). */
  upTo?: string;
}

/**
 * Applies pending migrations in order, each in its own transaction; safe to run from many processes.
 * A connection lost midway rolls back the migration it was in, and the run starts over on a new
 * connection after a backoff (1, 2, 4… s), so a role starting during a failover waits instead of
 * exiting; any other failure, or the last attempt's, rejects.
 */
export async function migrate(pool: Pool, opts: MigrateOptions = {}): Promise<string[]> {
  const attempts = opts.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(pool, opts.upTo);
    } catch (err) {
      if (attempt >= attempts || !isConnectionLoss(err)) throw err;
      opts.onRetry?.(err as Error, attempt);
      await new Promise((resolve) => setTimeout(resolve, (opts.backoffMs ?? 1000) * 2 ** (attempt - 1)));
    }
  }
}

async function migrateOnce(pool: Pool, upTo?: string): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR))
    .filter((f) => f.endsWith('.sql') && (upTo === undefined || f <= upTo))
    .sort();
  return withAdvisoryLock(pool, MIGRATION_LOCK, 'migrations', async (client) => {
    const applied: string[] = [];
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name),
    );
    for (const file of files.filter((f) => !done.has(f))) {
      const sql = await readFile(new URL(file, MIGRATIONS_DIR), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(file);
    }
    return applied;
  });
}

/** True when every migration file has been applied (for readiness checks). */
export async function migrationsApplied(pool: Pool): Promise<boolean> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql'));
  const rows = await pool
    .query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations')
    .catch(() => null);
  return rows?.rows[0]?.n === files.length;
}
