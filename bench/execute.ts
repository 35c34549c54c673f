// `npm run bench:execute`: a generated 50k-row file (10k employees, 5 sources, 30 branches) through
// approval and submission against the simulator (its own process), with 1 and 2 worker processes,
// throttle and simulator limit off, faults off; then a paced 600-row run at 114/120 per minute.
// Usage: npx tsx bench/execute.ts [--rows 50000] [--employees 10000] [--workers 1,2|none] [--paced 600|0] [--reuse]
// --reuse keeps each run's data directory (.tmp/bench-execute-w<N>) and, when its first batch is already
// provisioned and submitted, skips straight to another batch of the same people: a ~2 min loop for
// tuning the second-batch figure instead of ~15 min of first-batch provisioning each time.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { MethodClient } from '../src/method/client.js';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { createPool } from '../src/server/db.js';
import { ensureDatabase, freePort, startEmbeddedPostgres } from '../src/server/embedded-pg.js';
import { migrate } from '../src/server/migrate.js';
import { Cipher } from '../src/server/secrets.js';
import { generateToString } from './generator.js';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const ROWS = Number(arg('rows', '50000'));
const EMPLOYEES = Number(arg('employees', '10000'));
const WORKERS = arg('workers', '1,2')
  .split(',')
  .filter((w) => w !== 'none' && w !== '')
  .map(Number);
const PACED = Number(arg('paced', '600'));
const REUSE = process.argv.includes('--reuse');
const KEY = 'b'.repeat(64);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Payments not yet at Method (or not yet known to be). */
const BEFORE_METHOD = "('queued', 'submitting', 'retry_scheduled', 'unknown')";

interface Env {
  dbUrl: string;
  simUrl: string;
  children: ChildProcess[];
  stop(): Promise<void>;
}

async function environment(tag: string, simPerMinute: number, reuse = false): Promise<Env> {
  const dir = path.resolve(`.tmp/bench-execute-${tag}`);
  if (!reuse) rmSync(dir, { recursive: true, force: true });
  const db = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });
  await ensureDatabase(db.url, 'loanpay');
  await ensureDatabase(db.url, 'method_simulator');
  const simPort = await freePort();
  const children: ChildProcess[] = [];
  const sim = spawn(process.execPath, ['--import', 'tsx', 'src/simulator/main.ts'], {
    env: {
      ...process.env,
      SIMULATOR_DATABASE_URL: db.urlFor('method_simulator'),
      SIMULATOR_PORT: String(simPort),
      SIMULATOR_PAYMENTS_PER_MINUTE: String(simPerMinute),
      SIMULATOR_STEP_MS: '3600000',
      DATA_DIR: dir,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(sim);
  const simUrl = `http://127.0.0.1:${simPort}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${simUrl}/simulator/stats`)).ok) break;
    } catch {
      await sleep(100);
    }
  }
  return {
    dbUrl: db.urlFor('loanpay'),
    simUrl,
    children,
    async stop() {
      for (const c of children) c.kill('SIGTERM');
      await sleep(500);
      await db.stop();
    },
  };
}

function spawnWorker(env: Env, perMinute: number): ChildProcess {
  const w = spawn(process.execPath, ['--import', 'tsx', 'src/server/worker-main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: env.dbUrl,
      ENCRYPTION_KEY: KEY,
      METHOD_WEBHOOK_SECRET: 'bench',
      METHOD_API_URL: env.simUrl,
      METHOD_API_KEY: 'sk_bench',
      METHOD_PAYMENTS_PER_MINUTE: String(perMinute),
      WORKER_CONCURRENCY: '32',
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  env.children.push(w);
  return w;
}

async function loanPay(env: Env, perMinute: number) {
  const config = loadConfig({
    DATABASE_URL: env.dbUrl,
    ENCRYPTION_KEY: KEY,
    METHOD_WEBHOOK_SECRET: 'bench',
    REQUIRE_SECOND_APPROVER: 'false',
    METHOD_PAYMENTS_PER_MINUTE: String(perMinute),
    LOG_LEVEL: 'silent',
    ADMIN_PASSWORD: 'bench-password',
  });
  const pool = createPool(env.dbUrl, 20);
  await migrate(pool);
  const client = new MethodClient({ baseUrl: env.simUrl, apiKey: 'sk_bench', version: config.methodVersion });
  const built = await buildApp({
    config,
    pool,
    cipher: new Cipher(KEY),
    logger: false,
    methodClient: client,
  });
  await built.auth.ensureFirstAdmin('bench-password');
  const login = await built.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: 'admin', password: 'bench-password' },
  });
  const auth = { authorization: `Bearer ${login.json().token}` };
  const run = async (xml: string) => {
    const t0 = performance.now();
    const up = await built.app.inject({
      method: 'POST',
      url: '/api/batches',
      headers: { ...auth, 'content-type': 'application/xml' },
      payload: xml,
    });
    if (up.statusCode !== 201) throw new Error(up.body);
    const uploadMs = performance.now() - t0;
    const id = up.json().batch.id;
    await built.preflight!.run(id);
    const t1 = performance.now();
    const ap = await built.app.inject({ method: 'POST', url: `/api/batches/${id}/approve`, headers: auth });
    if (ap.statusCode !== 200) throw new Error(ap.body);
    return { id, uploadMs, approveMs: performance.now() - t1, approvedAt: performance.now() };
  };
  // Polled every 250 ms while a batch runs: an index probe, not a count, so the poll itself costs
  // the measured run nothing worth mentioning.
  const open = async (id: string) =>
    (
      await pool.query(
        `SELECT EXISTS (SELECT 1 FROM payments WHERE batch_id = $1 AND status IN ${BEFORE_METHOD}) AS open`,
        [id],
      )
    ).rows[0].open as boolean;
  return {
    pool,
    client,
    built,
    auth,
    run,
    open,
    async close() {
      await built.app.close();
      await client.close();
      await pool.end();
    },
  };
}

async function unpaced(workers: number) {
  const env = await environment(`w${workers}`, 0, REUSE);
  const lp = await loanPay(env, 0);
  const rows: Record<string, string> = {};
  try {
    const done = (await lp.pool.query("SELECT count(*)::int AS n FROM batches WHERE status <> 'rejected'"))
      .rows[0].n as number;
    if (done > 0) return await nextBatch(env, lp, workers, done, rows);
    const first = generateToString({ rows: ROWS, employees: EMPLOYEES, sources: 5, branches: 30, seed: 1 });
    const b1 = await lp.run(first.xml);
    rows['upload → 201 (first file)'] = `${(b1.uploadMs / 1000).toFixed(2)} s`;
    rows['approval (first batch)'] = `${(b1.approveMs / 1000).toFixed(2)} s`;
    for (let i = 0; i < workers; i++) spawnWorker(env, 0);
    while (await lp.open(b1.id)) await sleep(250);
    const firstS = (performance.now() - b1.approvedAt) / 1000;
    const prov = await lp.pool.query(
      "SELECT kind, count(*)::int AS n FROM provisioning WHERE status = 'done' GROUP BY kind ORDER BY kind",
    );
    const sub = await lp.pool.query(
      "SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'submitted'",
      [b1.id],
    );
    rows['first batch: approval → every payment submitted (provisioning included)'] =
      `${firstS.toFixed(1)} s`;
    rows['first batch: Method objects created'] = prov.rows.map((r) => `${r.kind} ${r.n}`).join(', ');
    rows['first batch: payments submitted'] = String(sub.rows[0].n);
    return await nextBatch(env, lp, 0, 1, rows);
  } finally {
    await lp.close();
    await env.stop();
  }
}

/** Another batch of the same people (batch number `n + 1`): every account exists at Method already. */
async function nextBatch(
  env: Env,
  lp: Awaited<ReturnType<typeof loanPay>>,
  spawn: number,
  n: number,
  rows: Record<string, string>,
) {
  for (let i = 0; i < spawn; i++) spawnWorker(env, 0); // started before the upload: ready by the approval
  // A run stopped half-way leaves a batch executing: cancel it, or its payments compete with this one's.
  const open = await lp.pool.query(`SELECT DISTINCT batch_id FROM payments WHERE status IN ${BEFORE_METHOD}`);
  for (const { batch_id } of open.rows) {
    await lp.built.app.inject({
      method: 'POST',
      url: `/api/batches/${batch_id}/cancel`,
      headers: lp.auth,
      payload: { reason: 'bench: an earlier run stopped half-way' },
    });
    while (await lp.open(batch_id)) await sleep(250);
  }
  // Amounts differ from every earlier batch, or the file would be refused as a duplicate.
  const low = 1000 + n * 100;
  const second = generateToString({
    rows: ROWS,
    employees: EMPLOYEES,
    sources: 5,
    branches: 30,
    seed: 1,
    amountRange: [low, low + 899],
  });
  const b2 = await lp.run(second.xml);
  rows[`approval (batch ${n + 1})`] = `${(b2.approveMs / 1000).toFixed(2)} s`;
  while (await lp.open(b2.id)) await sleep(250);
  const secondS = (performance.now() - b2.approvedAt) / 1000;
  const sub2 = await lp.pool.query(
    "SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'submitted'",
    [b2.id],
  );
  rows[`batch ${n + 1} (same people): approval → every payment submitted`] =
    `${secondS.toFixed(1)} s (${(sub2.rows[0].n / secondS).toFixed(0)} payments/s, ${sub2.rows[0].n} submitted)`;
  const check = await lp.built.app.inject({ method: 'GET', url: '/api/ledger/check', headers: lp.auth });
  rows[`ledger check after batch ${n + 1}`] = `balanced: ${check.json().balanced}`;
  return rows;
}

async function paced(n: number) {
  const env = await environment('paced', 120);
  const lp = await loanPay(env, 114);
  try {
    const f = generateToString({
      rows: n,
      employees: Math.ceil(n / 5),
      sources: 5,
      branches: 30,
      seed: 2,
      unpayablePlaidShare: false,
    });
    const b = await lp.run(f.xml);
    spawnWorker(env, 114);
    spawnWorker(env, 114);
    while (await lp.open(b.id)) await sleep(1000);
    const sim = new pg.Pool({ connectionString: env.dbUrl.replace(/\/loanpay$/, '/method_simulator') });
    sim.on('error', () => undefined);
    const created = await sim.query(
      'SELECT min(created_at) AS a, max(created_at) AS b, count(*)::int AS n FROM sim_payments',
    );
    const { a, b: last, n: count } = created.rows[0];
    const minutes = (last.getTime() - a.getTime()) / 60000;
    const perMinute = (count - 1) / minutes;
    const windows = await sim.query(
      `SELECT max(c)::int AS worst FROM (SELECT (SELECT count(*) FROM sim_payments q WHERE q.created_at >= p.created_at AND q.created_at < p.created_at + interval '60 seconds') AS c FROM sim_payments p) x`,
    );
    await sim.end();
    const limited = await lp.pool.query(
      "SELECT count(*)::int AS n FROM payment_events WHERE detail->>'reason' = 'rate_limited'",
    );
    const result = {
      [`paced ${n} rows, LoanPay 114/min, simulator limit 120/min, 2 workers`]: `${perMinute.toFixed(1)} creations/min over ${minutes.toFixed(2)} min`,
      'most creations in any rolling 60 s': String(windows.rows[0].worst),
      '429s received': String(limited.rows[0].n),
    };
    console.log(result); // before the teardown, so nothing measured is lost if it fails
    return result;
  } finally {
    await lp.close();
    await env.stop();
  }
}

async function main() {
  const log = pino({ level: 'info' });
  const out: Record<string, string> = {};
  for (const w of WORKERS) {
    log.info({ workers: w }, 'unpaced run');
    for (const [k, v] of Object.entries(await unpaced(w)))
      out[`${w} worker process${w > 1 ? 'es' : ''}: ${k}`] = v;
  }
  if (PACED > 0) {
    log.info({ rows: PACED }, 'paced run');
    Object.assign(out, await paced(PACED));
  }
  console.log(
    `\n| measure | result |\n|---|---|\n${Object.entries(out)
      .map(([k, v]) => `| ${k} | ${v} |`)
      .join('\n')}`,
  );
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
