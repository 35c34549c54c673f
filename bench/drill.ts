// `npm run drill`: a rehearsal of one whole batch against the Method simulator in bad weather, ending
// with a reconciliation report. A generated file (default 50k rows, 10k employees, 5 sources, 30
// branches) is uploaded over HTTP by an operator and approved by an approver (maker-checker on);
// LoanPay (API + a worker with tracking in this process, plus `npm run worker` processes) runs on
// its own embedded PostgreSQL in a temporary DATA_DIR, the simulator in its own process with the
// fault mix below (throttle and simulator rate limit off, so it finishes). The drill waits until
// every payment is final or needs-review and Method has nothing left moving, approving the
// reversals Method asks for as a person would (through the API), then clears the faults, runs a
// reconciliation (POST /api/reconciliation/run) and prints the report: rows and cents on each side
// (file, LoanPay payments by status, ledger, Method's records in the simulator's tables) and every
// difference. Exit 0 when there is none, 1 otherwise.
// Usage: npm run drill -- [--rows 50000] [--employees rows/5] [--worker-processes 1] [--step-ms 2000] [--calm]
//   [--timeout-min 180] [--seed 1] [--keep]  (--keep leaves the DATA_DIR for inspection)
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { mapMethodPaymentStatus } from '../src/method/client.js';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { freePort } from '../src/server/embedded-pg.js';
import { createMethodClient } from '../src/server/execution/method.js';
import { Worker } from '../src/server/execution/worker.js';
import type { Finding } from '../src/server/reconciliation/reconciliation.repository.js';
import { startRuntime } from '../src/server/runtime.js';
import { webhookUrl } from '../src/server/webhooks/credentials.js';
import { formatDollars } from '../src/shared/money.js';
import { groupOf, PAYMENT_STATUSES, STATUS_GROUPS } from '../src/shared/statuses.js';
import { simulatorDatabaseUrl } from '../src/simulator/start.js';
import { generateToString } from './generator.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Statuses a payment leaves on its own (the worker or tracking moves it on). */
const MOVING = ['queued', 'submitting', 'retry_scheduled', 'unknown', 'submitted', 'processing'];
/** Method statuses after which nothing moves any more. */
const METHOD_FINAL = new Set(['posted', 'failed', 'canceled', 'reversed', 'settled', 'cashed']);
const PASSWORD = 'drill-password-1';

/**
 * The weather: reliability.md's drill mix, plus the simulator's usual failure and return rates
 * (docs/method-simulator.md, "Rehearsing a batch").
 */
export const DRILL_FAULTS = {
  errorRate: 0.02,
  timeoutRate: 0.01,
  lostResponseRate: 0.01,
  idempotencyUnavailableRate: 0.005,
  rateLimitRate: 0.01,
  webhookDropRate: 0.05,
  webhookDuplicateRate: 0.02,
  reversalRate: 0.005,
  failPaymentRate: 0.01,
  returnRate: 0.005,
};

export interface DrillOptions {
  rows: number;
  employees: number;
  sources: number;
  branches: number;
  seed: number;
  faults: Record<string, number>;
  /** SIMULATOR_STEP_MS: how fast Method moves a payment one status on. */
  stepMs: number;
  /** LoanPay's Method client timeout; a "timed out" answer is held twice as long. */
  clientTimeoutMs: number;
  /** `npm run worker` processes besides the worker in this process. */
  workerProcesses: number;
  concurrency: number;
  leaseMs: number;
  pollEveryMs: number;
  pollStaleMs: number;
  /** Provisioning retry backoff of the worker in this process (default 1 s doubling to 5 min). */
  backoff?: { baseMs: number; capMs: number };
  /** Give up (and report it as a difference) when the run has not settled by then. */
  timeoutMs: number;
  progressEveryMs: number;
  /** Leave the DATA_DIR behind. */
  keep: boolean;
  log: (line: string) => void;
}

export const DEFAULT_DRILL: DrillOptions = {
  rows: 50_000,
  employees: 10_000,
  sources: 5,
  branches: 30,
  seed: 1,
  faults: DRILL_FAULTS,
  stepMs: 2000,
  clientTimeoutMs: 15_000,
  workerProcesses: 1,
  concurrency: 32,
  leaseMs: 60_000,
  pollEveryMs: 5000,
  pollStaleMs: 15_000,
  timeoutMs: 180 * 60_000,
  progressEveryMs: 10_000,
  keep: false,
  log: (line) => console.log(line),
};

interface Tally {
  n: number;
  cents: number;
}

export interface DrillReport {
  batchId: string;
  dataDir: string;
  seconds: number;
  settled: boolean;
  file: Tally;
  byStatus: Record<string, Tally>;
  ledger: Record<'loan' | 'clearing' | 'source', number> & {
    debits: number;
    credits: number;
    postings: number;
  };
  method: { byStatus: Record<string, Tally>; named: Record<string, Tally>; created: number };
  reconciliation: { id: string; status: string; summary: Record<string, unknown> } | null;
  reversalsApproved: number;
  batchStatus: string;
  differences: string[];
  /** The report as printed. */
  text: string;
}

/** The parts of the API's answers the drill reads (api.md). */
interface BatchView {
  id: string;
  status: string;
  rowCount: number;
  totalCents: number;
  counts: Record<string, number>;
  amountsCents: Record<string, number>;
  summary: { preflight: { status: string }; unpayable: { count: number } };
}
interface PaymentView {
  id: string;
  rowNumber: number;
  amountCents: number;
  methodStatus: string | null;
}
interface RunView {
  id: string;
  status: string;
  error: string | null;
  summary: Record<string, unknown> | null;
  findings?: Finding[];
}
interface LedgerCheckView {
  balanced: boolean;
  totalDebitsCents: number;
  totalCreditsCents: number;
  postings: number;
  unbalancedPostings: unknown[];
  accountMismatches: unknown[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tally = (): Tally => ({ n: 0, cents: 0 });
const add = (m: Record<string, Tally>, k: string, cents: number) => {
  m[k] ??= tally();
  m[k].n++;
  m[k].cents += cents;
};

/** A user of the API over HTTP with a bearer token. */
class ApiUser {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  static async login(base: string, username: string, password: string): Promise<ApiUser> {
    const r = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${await r.text()}`);
    return new ApiUser(base, ((await r.json()) as { token: string }).token);
  }

  async call(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: unknown }> {
    const r = await fetch(`${this.base}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: r.status, json };
  }

  async ok<T>(method: string, url: string, body?: unknown, expect = 200): Promise<T> {
    const r = await this.call(method, url, body);
    if (r.status !== expect) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`);
    return r.json as T;
  }
}

function spawnTsx(script: string, env: Record<string, string>, children: Set<ChildProcess>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)])) return;
  c.kill('SIGKILL');
  await exited;
}

export async function runDrill(partial: Partial<DrillOptions> = {}): Promise<DrillReport> {
  const o: DrillOptions = { ...DEFAULT_DRILL, ...partial };
  const started = Date.now();
  const at = () => `[${String(Math.round((Date.now() - started) / 1000)).padStart(5)} s]`;
  const log = (line: string) => o.log(`${at()} ${line}`);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'loanpay-drill-'));
  // Run as root, embedded PostgreSQL initialises its cluster as the postgres user: it must get in.
  chmodSync(dataDir, 0o755);
  const children = new Set<ChildProcess>();
  const cleanup: (() => Promise<unknown>)[] = [];
  let simExited = false;
  let worker: Worker | null = null;
  try {
    // ---- LoanPay's runtime as `npm start` brings it up: embedded PostgreSQL in DATA_DIR ----------
    const [port, simPort] = [await freePort(), await freePort()];
    const simUrl = `http://127.0.0.1:${simPort}`;
    const env: Record<string, string> = {
      DATA_DIR: dataDir,
      // The drill's own cluster, secrets generated into DATA_DIR, whatever the caller's shell holds.
      DATABASE_URL: '',
      ENCRYPTION_KEY: '',
      METHOD_WEBHOOK_SECRET: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PASSWORD: PASSWORD,
      METHOD_API_URL: simUrl,
      METHOD_API_KEY: 'sk_drill',
      METHOD_PAYMENTS_PER_MINUTE: '0',
      WORKER_CONCURRENCY: String(o.concurrency),
      WORKER_LEASE_MS: String(o.leaseMs),
      LOG_LEVEL: 'error',
    };
    const config = loadConfig(env);
    const rt = await startRuntime(config);
    cleanup.push(() => rt.close());
    log(`LoanPay database up in ${dataDir}`);

    // ---- the simulator, its own process, with the weather from its first request ---------------
    const simDbUrl = await simulatorDatabaseUrl(rt, {});
    const sim = spawnTsx(
      'src/simulator/main.ts',
      {
        SIMULATOR_DATABASE_URL: simDbUrl,
        SIMULATOR_PORT: String(simPort),
        SIMULATOR_PAYMENTS_PER_MINUTE: '0',
        SIMULATOR_STEP_MS: String(o.stepMs),
        SIMULATOR_FAULTS: JSON.stringify({ ...o.faults, timeoutHoldMs: o.clientTimeoutMs * 2 }),
        DATA_DIR: dataDir,
        LOG_LEVEL: 'error',
      },
      children,
    );
    sim.on('exit', () => {
      simExited = true;
    });
    for (let i = 0; ; i++) {
      if (simExited) throw new Error('the simulator exited during start-up');
      try {
        if ((await fetch(`${simUrl}/simulator/stats`)).ok) break;
      } catch {}
      if (i > 600) throw new Error('the simulator did not start within 60 s');
      await sleep(100);
    }
    const simPool = new pg.Pool({ connectionString: simDbUrl, max: 2 });
    cleanup.push(() => simPool.end());
    const faultsNow = async (method: 'GET' | 'DELETE') =>
      (await fetch(`${simUrl}/simulator/faults`, { method })).json();
    log(`simulator at ${simUrl}, faults ${JSON.stringify(await faultsNow('GET'))}`);

    // ---- the app (HTTP) and its worker with tracking; more worker processes beside it ------------
    const client = createMethodClient(config, o.clientTimeoutMs);
    cleanup.push(() => client.close());
    const built = await buildApp({
      config,
      pool: rt.pool,
      cipher: rt.cipher,
      logger: rt.logger,
      methodClient: client,
      webhookSecret: rt.webhookSecret,
    });
    await built.auth.ensureFirstAdmin(PASSWORD);
    await built.app.listen({ port, host: '127.0.0.1' });
    cleanup.push(() => built.app.close());
    worker = new Worker({
      pool: rt.pool,
      client,
      cipher: rt.cipher,
      logger: rt.logger.child({ component: 'worker' }),
      concurrency: o.concurrency,
      paymentsPerMinute: 0,
      leaseMs: o.leaseMs,
      sweepEveryMs: Math.min(5000, o.leaseMs / 2),
      backoff: o.backoff,
      preflight: built.preflight,
      tracking: {
        pollEveryMs: o.pollEveryMs,
        pollStaleMs: o.pollStaleMs,
        webhooks: { url: webhookUrl(config.publicUrl), secret: rt.webhookSecret },
      },
    });
    worker.start();
    for (let i = 0; i < o.workerProcesses; i++) spawnTsx('src/server/worker-main.ts', env, children);
    const base = `http://127.0.0.1:${port}`;
    const admin = await ApiUser.login(base, 'admin', PASSWORD);
    for (const role of ['operator', 'approver']) {
      await admin.ok('POST', '/api/users', { username: `drill-${role}`, password: PASSWORD, role }, 201);
    }
    const operator = await ApiUser.login(base, 'drill-operator', PASSWORD);
    const approver = await ApiUser.login(base, 'drill-approver', PASSWORD);
    log(
      `LoanPay at ${base}: API + 1 worker here, ${o.workerProcesses} worker process(es), throttle off, concurrency ${o.concurrency}`,
    );

    // ---- the file, uploaded and approved through the API ------------------------------------------
    const gen = generateToString({
      rows: o.rows,
      employees: o.employees,
      sources: o.sources,
      branches: o.branches,
      seed: o.seed,
    });
    const file = { n: gen.result.rowCount, cents: gen.result.totalCents };
    log(`file: ${file.n} rows, ${gen.result.employees} employees, ${formatDollars(file.cents)}`);
    const up = await operator.call('POST', '/api/batches', gen.xml, {
      'content-type': 'application/xml',
      'x-file-name': `drill-${o.rows}.xml`,
    });
    if (up.status !== 201) throw new Error(`upload: ${up.status} ${JSON.stringify(up.json)}`);
    const batchId = (up.json as { batch: BatchView }).batch.id;
    log(`uploaded: batch ${batchId}`);
    for (let last = 0; ; ) {
      const b = await operator.ok<BatchView>('GET', `/api/batches/${batchId}`);
      if (b.summary.preflight.status === 'complete') {
        log(`pre-flight complete: ${b.summary.unpayable.count} unpayable rows`);
        break;
      }
      if (Date.now() - last > o.progressEveryMs) {
        log(`pre-flight ${b.summary.preflight.status}`);
        last = Date.now();
      }
      if (Date.now() - started > o.timeoutMs) throw new Error('the pre-flight did not complete in time');
      await sleep(500);
    }
    const approved = (await approver.ok<{ batch: BatchView }>('POST', `/api/batches/${batchId}/approve`))
      .batch;
    log(`approved by drill-approver: ${approved.status}`);

    // ---- run until nothing moves any more ----------------------------------------------------------
    const reversalsApproved = new Set<string>();
    const progress = async () => {
      const [ours, prov, inbox, sims] = await Promise.all([
        rt.pool.query(
          'SELECT status, count(*)::int AS n FROM payments WHERE batch_id = $1 GROUP BY 1 ORDER BY 1',
          [batchId],
        ),
        rt.pool.query(
          "SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*)::int AS n FROM provisioning",
        ),
        rt.pool.query('SELECT count(*)::int AS n FROM webhook_events'),
        simPool.query('SELECT status, count(*)::int AS n FROM sim_payments GROUP BY 1 ORDER BY 1'),
      ]);
      const s = (rows: { status: string; n: number }[]) => rows.map((r) => `${r.status} ${r.n}`).join(', ');
      log(
        `provisioned ${prov.rows[0].done}/${prov.rows[0].n} · LoanPay: ${s(ours.rows) || '—'} · Method: ${
          s(sims.rows) || '—'
        } · webhook events ${inbox.rows[0].n} · reversals approved ${reversalsApproved.size}`,
      );
    };
    /** Every payment final or needs-review (not awaiting a reversal), Method done, tracking caught up. */
    const settled = async (): Promise<boolean> => {
      const open = await rt.pool.query(
        `SELECT count(*)::int AS n FROM payments WHERE batch_id = $1
           AND (status = ANY($2) OR (status = 'needs_review' AND method_status = 'reversal_required'))`,
        [batchId, MOVING],
      );
      if (open.rows[0].n > 0) return false;
      const sims = await simPool.query('SELECT id, status FROM sim_payments');
      if (sims.rows.some((r) => !METHOD_FINAL.has(r.status))) return false;
      const atMethod = new Map(sims.rows.map((r) => [r.id as string, r.status as string]));
      const named = await rt.pool.query(
        'SELECT method_payment_id, method_status FROM payments WHERE batch_id = $1 AND method_payment_id IS NOT NULL',
        [batchId],
      );
      return named.rows.every((r) => atMethod.get(r.method_payment_id) === r.method_status);
    };
    let isSettled = false;
    let lastProgress = 0;
    for (;;) {
      if (simExited) throw new Error('the simulator exited');
      // A person approves each reversal Method asks for (reversal_required), through the API; a 503
      // (Method did not answer) is tried again on the next round, as the message says.
      const review = await approver.ok<{ items: PaymentView[] }>(
        'GET',
        `/api/batches/${batchId}/payments?status=needs_review&limit=1000`,
      );
      for (const p of review.items) {
        if (p.methodStatus !== 'reversal_required') continue;
        const r = await approver.call('POST', `/api/payments/${p.id}/approve-reversal`);
        if (r.status === 200) {
          reversalsApproved.add(p.id);
          log(`reversal approved for payment ${p.id} (row ${p.rowNumber}, ${formatDollars(p.amountCents)})`);
        } else if (r.status !== 503 && r.status !== 409) {
          throw new Error(`approve-reversal ${p.id}: ${r.status} ${JSON.stringify(r.json)}`);
        }
      }
      if (Date.now() - lastProgress >= o.progressEveryMs) {
        await progress();
        lastProgress = Date.now();
      }
      if (await settled()) {
        isSettled = true;
        break;
      }
      if (Date.now() - started > o.timeoutMs) {
        log('timed out before every payment was final');
        break;
      }
      await sleep(1000);
    }
    await progress();
    log(isSettled ? 'settled: every payment final or in needs-review, Method done' : 'NOT settled');

    // ---- reconciliation -------------------------------------------------------------------------
    // The storm is over: the reconciliation's Method listing is not retried, so it runs in fair weather.
    await faultsNow('DELETE');
    const run = (await operator.ok<{ run: RunView }>('POST', '/api/reconciliation/run', undefined, 202)).run;
    let reconciliation: DrillReport['reconciliation'] = null;
    let findings: Finding[] = [];
    for (;;) {
      const r = (await operator.ok<{ run: RunView }>('GET', `/api/reconciliation/runs/${run.id}`)).run;
      if (r.status !== 'running') {
        reconciliation = { id: r.id, status: r.status, summary: r.summary ?? {} };
        findings = r.findings ?? [];
        if (r.error) reconciliation.summary = { ...reconciliation.summary, error: r.error };
        break;
      }
      await sleep(500);
    }
    log(`reconciliation run ${run.id}: ${reconciliation.status}, ${findings.length} findings`);

    // Each step is logged: a run of an hour that stops here must say where.
    log('report: reading the batch');
    const batchView = await operator.ok<BatchView>('GET', `/api/batches/${batchId}`);
    log('report: checking the ledger');
    const ledgerCheck = await operator.ok<LedgerCheckView>('GET', '/api/ledger/check');
    log('report: comparing payments, ledger, history and Method');
    const report = await buildReport({
      pool: rt.pool,
      simPool,
      batchId,
      batch: batchView,
      ledgerCheck,
      file,
      findings,
      reconciliation,
    });
    const differences = [...report.differences];
    if (!isSettled) differences.unshift('the run did not settle before the time limit');
    const result: DrillReport = {
      ...report,
      batchId,
      dataDir,
      seconds: Math.round((Date.now() - started) / 1000),
      settled: isSettled,
      file,
      reconciliation,
      reversalsApproved: reversalsApproved.size,
      differences,
      text: '',
    };
    result.text = formatReport(result, o);
    return result;
  } finally {
    // Workers first (this one, then the processes and the simulator), then what they stood on.
    await worker?.stop().catch(() => {});
    await Promise.all([...children].map(stopChild));
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
    if (!o.keep) rmSync(dataDir, { recursive: true, force: true });
  }
}

interface ReportInput {
  pool: pg.Pool;
  simPool: pg.Pool;
  batchId: string;
  batch: BatchView;
  ledgerCheck: LedgerCheckView;
  file: Tally;
  findings: Finding[];
  reconciliation: DrillReport['reconciliation'];
}

/** Every side's numbers and every difference between them. */
async function buildReport(i: ReportInput) {
  const d: string[] = [];
  const { rows: payments } = await i.pool.query(
    `SELECT id, row_number, status, amount_cents::int AS cents, method_payment_id, method_status FROM payments
      WHERE batch_id = $1 ORDER BY row_number`,
    [i.batchId],
  );
  const byStatus: Record<string, Tally> = {};
  for (const p of payments) add(byStatus, p.status, p.cents);
  const sum = (ks: readonly string[]) =>
    ks.reduce(
      (a, k) => ({ n: a.n + (byStatus[k]?.n ?? 0), cents: a.cents + (byStatus[k]?.cents ?? 0) }),
      tally(),
    );
  const all = sum(PAYMENT_STATUSES);
  const pending = sum(PAYMENT_STATUSES.filter((s) => groupOf(s) === 'pending'));

  // File ↔ batch ↔ payments.
  if (i.batch.rowCount !== i.file.n || i.batch.totalCents !== i.file.cents)
    d.push(
      `batch holds ${i.batch.rowCount} rows / ${i.batch.totalCents} cents; the file ${i.file.n} / ${i.file.cents}`,
    );
  if (all.n !== i.file.n || all.cents !== i.file.cents)
    d.push(`payments: ${all.n} rows / ${all.cents} cents; the file ${i.file.n} / ${i.file.cents}`);
  for (const p of payments)
    if (MOVING.includes(p.status)) d.push(`payment ${p.id} (row ${p.row_number}) still ${p.status}`);

  // Batch aggregates (what the screens and reports show) ↔ payments.
  for (const g of STATUS_GROUPS) {
    const want = g === 'pending' ? pending : (byStatus[g] ?? tally());
    const n = i.batch.counts[g] ?? 0;
    const c = i.batch.amountsCents[g] ?? 0;
    if (n !== want.n || c !== want.cents)
      d.push(`batch aggregates ${g}: ${n} / ${c} cents; payments ${want.n} / ${want.cents}`);
  }

  // Ledger ↔ payments.
  const { rows: kinds } = await i.pool.query(
    `SELECT a.kind, sum(e.amount_cents)::bigint AS cents FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id GROUP BY 1`,
  );
  const k = Object.fromEntries(kinds.map((r) => [r.kind, Number(r.cents)]));
  const ledger = {
    loan: k.loan ?? 0,
    clearing: k.clearing ?? 0,
    source: k.source ?? 0,
    debits: i.ledgerCheck.totalDebitsCents,
    credits: i.ledgerCheck.totalCreditsCents,
    postings: i.ledgerCheck.postings,
  };
  const paid = byStatus.paid ?? tally();
  if (ledger.loan !== paid.cents)
    d.push(`ledger: loan accounts hold ${ledger.loan} cents; paid payments ${paid.cents}`);
  if (ledger.clearing !== pending.cents)
    d.push(`ledger: clearing holds ${ledger.clearing} cents; pending payments ${pending.cents}`);
  if (ledger.source !== -(paid.cents + pending.cents))
    d.push(
      `ledger: source accounts hold ${ledger.source} cents; −(paid + pending) is ${-(paid.cents + pending.cents)}`,
    );
  if (!i.ledgerCheck.balanced || ledger.debits !== ledger.credits)
    d.push(
      `ledger check: balanced ${i.ledgerCheck.balanced}, debits ${ledger.debits}, credits ${ledger.credits}`,
    );
  for (const u of i.ledgerCheck.unbalancedPostings) d.push(`ledger: unbalanced posting ${JSON.stringify(u)}`);
  for (const m of i.ledgerCheck.accountMismatches) d.push(`ledger: account mismatch ${JSON.stringify(m)}`);

  // History: each payment's last status change is where it is.
  const { rows: stale } = await i.pool.query(
    `SELECT p.id, p.status, e.to_status FROM payments p
       LEFT JOIN LATERAL (SELECT to_status FROM payment_events WHERE payment_id = p.id ORDER BY id DESC LIMIT 1) e ON true
      WHERE p.batch_id = $1 AND e.to_status IS DISTINCT FROM p.status`,
    [i.batchId],
  );
  for (const r of stale) d.push(`payment ${r.id} is ${r.status} but its history ends at ${r.to_status}`);

  // Method's records (the simulator's tables) ↔ LoanPay.
  const { rows: sims } = await i.simPool.query(
    `SELECT id, status, was_sent, (data->>'amount')::int AS cents, data->'metadata'->>'loanpay_payment_id' AS pid
       FROM sim_payments ORDER BY seq`,
  );
  const simById = new Map(sims.map((s) => [s.id as string, s]));
  const liveByRow = new Map<string, string[]>();
  const methodByStatus: Record<string, Tally> = {};
  const named: Record<string, Tally> = {};
  const ours = new Set(payments.map((p) => p.id as string));
  for (const s of sims) {
    add(
      methodByStatus,
      s.status === 'failed' ? (s.was_sent ? 'failed after sent' : 'failed before sent') : s.status,
      s.cents,
    );
    if (!ours.has(s.pid))
      d.push(
        `Method payment ${s.id} (${s.status}, ${s.cents} cents) names no payment of this batch (${s.pid})`,
      );
    if (s.status === 'canceled' || (s.status === 'failed' && !s.was_sent)) continue;
    liveByRow.set(s.pid, [...(liveByRow.get(s.pid) ?? []), s.id]);
  }
  for (const p of payments) {
    const live = liveByRow.get(p.id) ?? [];
    if (live.length > 1)
      d.push(
        `payment ${p.id} (row ${p.row_number}): ${live.length} Method payments moved money: ${live.join(', ')}`,
      );
    if (live.length === 1 && live[0] !== p.method_payment_id)
      d.push(
        `payment ${p.id} (row ${p.row_number}) names ${p.method_payment_id}; Method's live one is ${live[0]}`,
      );
    if (!p.method_payment_id) {
      if (!['cancelled', 'failed', 'needs_review'].includes(p.status))
        d.push(`payment ${p.id} (row ${p.row_number}) is ${p.status} with no Method payment`);
      continue;
    }
    const s = simById.get(p.method_payment_id);
    if (!s) {
      d.push(
        `payment ${p.id} (row ${p.row_number}) names ${p.method_payment_id}, which Method does not hold`,
      );
      continue;
    }
    const implied = mapMethodPaymentStatus(s.status, { wasSent: s.was_sent });
    add(named, implied ?? s.status, s.cents);
    if (implied !== p.status)
      d.push(
        `payment ${p.id} (row ${p.row_number}) is ${p.status}; Method's ${s.id} is ${s.status} (→ ${implied})`,
      );
    if (s.cents !== p.cents)
      d.push(`payment ${p.id} (row ${p.row_number}): ${p.cents} cents; Method's ${s.id} ${s.cents}`);
  }
  for (const g of ['paid', 'returned'] as const) {
    const ourSide = byStatus[g] ?? tally();
    const theirs = named[g] ?? tally();
    if (ourSide.n !== theirs.n || ourSide.cents !== theirs.cents)
      d.push(`${g}: LoanPay ${ourSide.n} / ${ourSide.cents} cents; Method ${theirs.n} / ${theirs.cents}`);
  }

  // The reconciliation run's own findings.
  if (i.reconciliation?.status !== 'done')
    d.push(
      `reconciliation run ${i.reconciliation?.id}: ${i.reconciliation?.status} ${JSON.stringify(i.reconciliation?.summary)}`,
    );
  for (const f of i.findings)
    d.push(
      `reconciliation ${f.check}: ${f.entityType} ${f.entityId} expected ${JSON.stringify(f.expected)}, actual ${JSON.stringify(
        f.actual,
      )}, difference ${f.differenceCents} cents${f.repaired ? ' (repaired)' : ''} ${JSON.stringify(f.detail)}`,
    );

  return {
    byStatus,
    ledger,
    method: { byStatus: methodByStatus, named, created: sims.length },
    batchStatus: i.batch.status,
    differences: d,
  };
}

function formatReport(r: DrillReport, o: DrillOptions): string {
  const W = 44;
  const num = (n: number) => n.toLocaleString('en-US');
  const line = (label: string, t: Tally | undefined, note = '') =>
    `  ${label.padEnd(W)}${num(t?.n ?? 0).padStart(8)}  ${formatDollars(t?.cents ?? 0).padStart(17)}  ${String(t?.cents ?? 0).padStart(12)}${note ? `  ${note}` : ''}`;
  const money = (label: string, cents: number, note = '') =>
    `  ${label.padEnd(W + 10)}${formatDollars(cents).padStart(17)}  ${String(cents).padStart(12)}${note ? `  ${note}` : ''}`;
  const total = Object.values(r.byStatus).reduce(
    (a, t) => ({ n: a.n + t.n, cents: a.cents + t.cents }),
    tally(),
  );
  const out = [
    '',
    `LoanPay drill: reconciliation report (batch ${r.batchId}, ${r.seconds} s)`,
    `  ${o.rows} rows, ${o.employees} employees, ${o.sources} sources, ${o.branches} branches, seed ${o.seed}; ` +
      `simulator step ${o.stepMs} ms; ${o.workerProcesses + 1} workers`,
    `  faults: ${Object.entries(o.faults)
      .map(([k, v]) => `${k} ${v * 100}%`)
      .join(', ')}`,
    '',
    `  ${''.padEnd(W)}${'rows'.padStart(8)}  ${'amount'.padStart(17)}  ${'cents'.padStart(12)}`,
    'File',
    line('rows in the file', r.file),
    'LoanPay payments by status',
    ...PAYMENT_STATUSES.filter((s) => r.byStatus[s]).map((s) => line(s, r.byStatus[s])),
    line('total', total, total.n === r.file.n && total.cents === r.file.cents ? '= file' : '≠ file'),
    `  batch status ${r.batchStatus}; reversals approved by a person: ${r.reversalsApproved}`,
    'Ledger',
    money('loan accounts (= paid)', r.ledger.loan),
    money('clearing accounts (= pending incl. needs_review)', r.ledger.clearing),
    money('source accounts (= −(paid + pending))', r.ledger.source),
    money(`debits = credits over ${num(r.ledger.postings)} postings`, r.ledger.debits),
    "Method's records (simulator tables)",
    ...Object.entries(r.method.byStatus)
      .sort()
      .map(([s, t]) => line(`Method ${s}`, t)),
    line('Method payments created', {
      n: r.method.created,
      cents: Object.values(r.method.byStatus).reduce((a, t) => a + t.cents, 0),
    }),
    ...Object.entries(r.method.named)
      .sort()
      .map(([s, t]) => line(`the ones LoanPay names, as ${s}`, t)),
    'Reconciliation',
    r.reconciliation
      ? `  run ${r.reconciliation.id}: ${r.reconciliation.status}; ${Object.entries(r.reconciliation.summary)
          .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
          .join('; ')}`
      : '  no run',
    '',
    r.differences.length === 0
      ? 'Differences: none'
      : `Differences: ${r.differences.length}\n${r.differences.map((x) => `  - ${x}`).join('\n')}`,
    '',
  ];
  return out.join('\n');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const rows = Number(arg('rows') ?? DEFAULT_DRILL.rows);
  const num = (name: string, def: number) => Number(arg(name) ?? def);
  const r = await runDrill({
    rows,
    employees: num('employees', Math.max(1, Math.round(rows / 5))),
    seed: num('seed', DEFAULT_DRILL.seed),
    workerProcesses: num('worker-processes', DEFAULT_DRILL.workerProcesses),
    stepMs: num('step-ms', DEFAULT_DRILL.stepMs),
    timeoutMs: num('timeout-min', DEFAULT_DRILL.timeoutMs / 60_000) * 60_000,
    keep: process.argv.includes('--keep'),
    // --calm: no faults at all (Method's own failure and return rates off too): the plain
    // approval-to-every-payment-final run of the tracking benchmark.
    ...(process.argv.includes('--calm') ? { faults: {} } : {}),
  });
  console.log(r.text);
  if (r.differences.length > 0 || !r.settled) process.exitCode = 1;
  if (process.argv.includes('--keep')) console.log(`DATA_DIR kept: ${r.dataDir}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main()
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => process.exit());
}
