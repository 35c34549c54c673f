// Applies plain SQL migrations from a folder in name order, once each, recorded in a table.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

export const APP_MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url));

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

/**
 * Applies every `NNN_name.sql` in `dir` not yet recorded in `table`, each in its own transaction,
 * under an advisory lock so two processes starting at once do not race.
 */
export async function migrate(
  pool: pg.Pool,
  dir = APP_MIGRATIONS_DIR,
  table = 'schema_migrations',
): Promise<MigrationResult> {
  if (!/^[a-z_]+(\.[a-z_]+)?$/.test(table)) throw new Error(`bad migrations table name ${table}`);
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  const client = await pool.connect();
  const result: MigrationResult = { applied: [], skipped: [] };
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('loanpay_migrations'))");
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ name: string }>(`SELECT name FROM ${table}`)).rows.map((r) => r.name),
    );
    for (const file of files) {
      if (done.has(file)) {
        result.skipped.push(file);
        continue;
      }
      const sql = await readFile(path.join(dir, file), 'utf8');
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query(`INSERT INTO ${table} (name) VALUES ($1)`, [file]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new Error(`migration ${file} failed: ${(err as Error).message}`);
      }
      result.applied.push(file);
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('loanpay_migrations'))").catch(() => {});
    client.release();
  }
  return result;
}
