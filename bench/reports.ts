// Benchmark: payments.csv of a 50k-row booked batch over real HTTP (time, and memory against a
// 5k-row batch to show it stays flat), the sources/branches CSVs, and the batch payments list with
// each filter. Embedded PostgreSQL (or DATABASE_URL), the real app, a generated file uploaded through
// the API, then booked with set-based SQL in a mix of statuses.
//   node --expose-gc --import tsx bench/reports.ts [--rows 50000] [--runs 7] [--payments-only]
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { createPool } from '../src/server/db.js';
import { ensureDatabase, startEmbeddedPostgres } from '../src/server/embedded-pg.js';
import { migrate } from '../src/server/migrate.js';
import { Cipher } from '../src/server/secrets.js';
import { generateToString, UNPAYABLE_PLAID_ID } from './generator.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '7' },
    // Only the payments.csv downloads (skips sources/branches and the payments list).
    'payments-only': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const RUNS = Number(values.runs);
const PASSWORD = 'bench-password-123';

const gc = (globalThis as { gc?: () => void }).gc;
const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function main() {
  const dir = path.join(os.tmpdir(), `reports-bench-${process.pid}`);
  let databaseUrl = process.env.DATABASE_URL;
  const embedded = databaseUrl ? null : await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });
  if (embedded) {
    await ensureDatabase(embedded.url, 'loanpay_bench');
    databaseUrl = embedded.urlFor('loanpay_bench');
  }
  const pool = createPool(databaseUrl as string, 10);
  await migrate(pool);
  const config = loadConfig({
    ADMIN_PASSWORD: PASSWORD,
    DATA_DIR: '/nonexistent',
    LOG_LEVEL: 'silent',
    MAX_UPLOAD_MB: '200',
  });
  const built = await buildApp({
    config,
    pool,
    cipher: new Cipher('b'.repeat(64)),
    logger: pino({ level: 'error' }),
  });
  await built.auth.ensureFirstAdmin(PASSWORD);
  const app = built.app;
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const login = await app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username: 'admin', password: PASSWORD },
  });
  const auth = { authorization: `Bearer ${login.json().token}` };

  const book = async (rows: number, seed: number) => {
    const { xml } = generateToString({
      rows,
      employees: Math.ceil(rows / 5),
      sources: 5,
      branches: Math.max(1, Math.ceil(rows / 125)),
      seed,
    });
    const t0 = performance.now();
    const up = await app.inject({
      method: 'POST',
      url: '/api/batches',
      headers: { ...auth, 'content-type': 'application/xml', 'x-file-name': `bench-${rows}.xml` },
      payload: xml,
    });
    if (up.statusCode !== 201) throw new Error(`upload: ${up.statusCode} ${up.body.slice(0, 500)}`);
    const id: string = up.json().batch.id;
    // Booked with set-based SQL rather than POST /approve: the payments in a realistic mix of
    // statuses (Method columns filled), and the opening aggregate rows the reports read. The ledger
    // is left out: no report reads it.
    await pool.query(
      `INSERT INTO payments (batch_id, row_number, employee_id, employee_name, branch_id, source_id,
         source_bank_account_id, loan_id, plaid_id, amount_cents, status, method_payment_id, method_status,
         failure_code, failure_message)
       SELECT l.batch_id, l.row_number, l.employee_id, l.first_name || ' ' || l.last_name, l.branch_id, l.source_id,
              l.source_bank_account_id, l.loan_id, l.plaid_id, l.amount_cents, x.status,
              CASE WHEN x.status NOT IN ('queued', 'cancelled') THEN 'pmt_' || substr(md5(l.row_number::text), 1, 20) END,
              CASE x.status WHEN 'paid' THEN 'settled' WHEN 'failed' THEN 'failed' WHEN 'returned' THEN 'reversed'
                            WHEN 'submitted' THEN 'pending' END,
              CASE x.status WHEN 'cancelled' THEN 'UNPAYABLE_DESTINATION' WHEN 'failed' THEN 'INSUFFICIENT_FUNDS' END,
              CASE x.status WHEN 'cancelled' THEN 'No payable student-loan servicer at Method for ' || l.plaid_id
                            WHEN 'failed' THEN 'R01, "insufficient funds"' END
         FROM batch_lines l,
              LATERAL (SELECT CASE WHEN l.plaid_id = $2 THEN 'cancelled'
                                   ELSE (ARRAY['paid', 'paid', 'paid', 'paid', 'paid', 'paid', 'failed', 'returned',
                                               'submitted', 'queued'])[l.row_number % 10 + 1] END AS status) x
        WHERE l.batch_id = $1`,
      [id, UNPAYABLE_PLAID_ID],
    );
    await pool.query(
      `INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       SELECT batch_id, source_id, branch_id,
              CASE WHEN status IN ('paid', 'failed', 'returned', 'cancelled') THEN status ELSE 'pending' END,
              count(*), sum(amount_cents)
         FROM payments WHERE batch_id = $1 GROUP BY 1, 2, 3, 4`,
      [id],
    );
    await pool.query("UPDATE batches SET status = 'executing', approved_at = now() WHERE id = $1", [id]);
    await pool.query('VACUUM ANALYZE payments');
    console.log(
      `booked ${rows} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s (upload through the API + set-based booking)`,
    );
    return id;
  };

  /**
   * One download over HTTP: seconds, CPU seconds of this process (server and client: they share
   * it), bytes, lines, and the heap's and RSS's peak rise while it ran.
   */
  const download = async (id: string, kind: string) => {
    gc?.();
    const baseHeap = process.memoryUsage().heapUsed;
    const baseRss = process.memoryUsage().rss;
    let peakHeap = baseHeap;
    let peakRss = baseRss;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 5);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const res = await fetch(`${base}/api/batches/${id}/reports/${kind}.csv`, { headers: auth });
    if (!res.ok || !res.body) throw new Error(`report: ${res.status}`);
    let bytes = 0;
    let lines = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      // indexOf (memchr), not a byte loop: the client shares this thread with the server, and a
      // per-byte loop over 16 MB cost it about 0.15 s of the time measured.
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    clearInterval(sampler);
    return {
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      bytes,
      lines,
      heapRise: peakHeap - baseHeap,
      rssRise: peakRss - baseRss,
    };
  };

  const small = await book(Math.round(ROWS / 10), 11);
  const large = await book(ROWS, 12);
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  console.log(
    `load average before the downloads: ${load()} (${os.cpus().length} CPUs, Node ${process.version})`,
  );

  for (const [label, id] of [
    [`${Math.round(ROWS / 10)} rows`, small],
    [`${ROWS} rows`, large],
  ] as const) {
    await download(id, 'payments'); // warm-up
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await download(id, 'payments'));
    const secs = runs.map((r) => r.seconds);
    const cpus = runs.map((r) => r.cpuSeconds);
    console.log(
      `payments.csv ${label}: ${runs[0]!.lines - 1} records, ${mb(runs[0]!.bytes)} MB; ` +
        `time min ${pct(secs, 0).toFixed(3)} s, median ${pct(secs, 50).toFixed(3)} s, max ${pct(secs, 100).toFixed(3)} s; ` +
        `process CPU min ${pct(cpus, 0).toFixed(3)} s, median ${pct(cpus, 50).toFixed(3)} s; ` +
        `peak heap rise max ${mb(Math.max(...runs.map((r) => r.heapRise)))} MB, ` +
        `peak RSS rise max ${mb(Math.max(...runs.map((r) => r.rssRise)))} MB`,
    );
  }
  console.log(`load average after the payments.csv downloads: ${load()}`);
  if (values['payments-only']) {
    await app.close();
    await pool.end();
    await embedded?.stop();
    if (embedded) rmSync(dir, { recursive: true, force: true });
    return;
  }
  for (const kind of ['sources', 'branches']) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await download(large, kind));
    const secs = runs.map((r) => r.seconds * 1000);
    console.log(
      `${kind}.csv ${ROWS} rows: ${runs[0]!.lines - 1} records; median ${pct(secs, 50).toFixed(1)} ms, max ${pct(secs, 100).toFixed(1)} ms`,
    );
  }

  // The batch payments list with each filter, first page and a page deep in the batch.
  const sample = (
    await pool.query(
      `SELECT employee_id, employee_name, branch_id, source_id FROM payments WHERE batch_id = $1
        ORDER BY row_number OFFSET $2 LIMIT 1`,
      [large, Math.floor(ROWS * 0.9)],
    )
  ).rows[0];
  const deep = Buffer.from(JSON.stringify(Math.floor(ROWS * 0.8))).toString('base64url');
  const lastName = sample.employee_name.split(' ').at(-1);
  const filters: [string, string][] = [
    ['no filter', ''],
    ['cursor deep in the batch', `cursor=${deep}`],
    ['status=queued', 'status=queued'],
    ['status=paid (none)', 'status=paid'],
    ['group=cancelled', 'group=cancelled'],
    ['branchId', `branchId=${sample.branch_id}`],
    ['sourceId', `sourceId=${sample.source_id}`],
    ['q=employee id', `q=${sample.employee_id}`],
    ['q=last name', `q=${encodeURIComponent(lastName)}`],
    ['q=3 letters', `q=${encodeURIComponent(lastName.slice(1, 4))}`],
    ['q=no match', 'q=zzqqx'],
  ];
  for (const [label, qs] of filters) {
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const r = await fetch(`${base}/api/batches/${large}/payments?${qs}`, { headers: auth });
      const body = (await r.json()) as { items: unknown[] };
      times.push(performance.now() - t0);
      items = body.items.length;
    }
    console.log(
      `GET /api/batches/:id/payments ${label}: ${items} items; p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms`,
    );
  }

  await app.close();
  await pool.end();
  await embedded?.stop();
  if (embedded) rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
