// Starts one real (embedded) PostgreSQL for the whole test run and migrates a template database;
// each test file then clones the template (see db.ts), which takes milliseconds.
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/server/embedded-pg.js';
import { migrate } from '../../src/server/migrate.js';

export const TEMPLATE_DB = 'loanpay_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    pgTemplateUrl: string;
  }
}

export default async function setup(project: TestProject) {
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
