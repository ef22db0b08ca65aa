import { readdir, readFile } from 'node:fs/promises';
import { withAdvisoryLock } from './checkout.ts';
import type { Pool } from './pool.ts';

// Resolved through the package name, so it holds from the sources and from the production bundle.
const MIGRATIONS_DIR = new URL('./', import.meta.resolve('@fleet-backup/db/migrations/001_init.sql'));
// Any fixed number; serialises concurrent `migrate` runs from several processes starting at once.
const MIGRATION_LOCK = 7_241_905_113;

/**
 * Applies pending migrations in order, each in its own transaction; safe to run from many processes.
 * A connection lost midway rejects with ConnectionLostError; the migration it was in rolled back,
 * and the next run applies it.
 */
export async function migrate(pool: Pool): Promise<string[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
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
