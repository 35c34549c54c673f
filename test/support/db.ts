// A fresh database per test file, cloned from the migrated template.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { createPool, type Pool } from '../../src/server/db.js';
import { TEMPLATE_DB, withDatabase } from './global-setup.js';

export interface TestDatabase {
  name: string;
  url: string;
  pool: Pool;
}

/** Creates a database from the template; dropped after the file's tests. */
export async function createTestDatabase(opts: { template?: string } = {}): Promise<TestDatabase> {
  const maintenanceUrl = inject('pgUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: maintenanceUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${opts.template ?? TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(maintenanceUrl, name);
  const pool = createPool(url, 10);
  afterAll(async () => {
    await pool.end();
    const c = new pg.Client({ connectionString: maintenanceUrl });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await c.end();
  });
  return { name, url, pool };
}

/** An empty database (no migrations), for testing the migrator itself. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  return createTestDatabase({ template: 'template0' });
}
