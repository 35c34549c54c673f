// Benchmark: upload → 201 over real HTTP (parse, validate, stage, write the draft: people, loans,
// sources, lines, warnings, totals) and approval (payments, history, ledger, aggregates, provisioning
// rows planned right after by a worker's planner, timed on its own), for a FIRST 50k-row file (10k new employees, ~50k new loans) and a SECOND file of the same
// people (the every-two-weeks case, with everyone already at Method). Embedded PostgreSQL with its default durability (fsync and
// synchronous_commit on) under a fresh temp folder, the real app listening on loopback.
// The pre-flight (Method's merchant look-up) is marked complete with SQL, so approval is measured alone.
//   npx tsx bench/upload.ts [--rows 50000] [--runs 3] [--profile] [--client curl|node]
// --profile prints every SQL statement over 20 ms with its time. --client: what sends the file, in a
// process of its own as a browser is: curl (the default; native, streams the file from disk) or
// bench/upload-client.mjs (Node.js, ≈ 0.3 s of CPU for 51 MB, taken from this machine's two cores
// while the server parses). The CPU each client used is printed.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { createPool, type PoolClient } from '../src/server/db.js';
import { ensureDatabase, startEmbeddedPostgres } from '../src/server/embedded-pg.js';
import { planProvisioning } from '../src/server/execution/provisioner.js';
import { migrate } from '../src/server/migrate.js';
import { Cipher } from '../src/server/secrets.js';
import { generateToString, UNPAYABLE_PLAID_ID } from './generator.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '3' },
    profile: { type: 'boolean', default: false },
    client: { type: 'string', default: 'curl' },
  },
});
if (values.client !== 'curl' && values.client !== 'node') throw new Error('--client is curl or node');
const ROWS = Number(values.rows);
const RUNS = Number(values.runs);
const PASSWORD = 'bench-password-123';
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const dir = path.join(os.tmpdir(), `upload-bench-${process.pid}`);
const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });

try {
  const results: string[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const db = `bench_${run}`;
    await ensureDatabase(embedded.url, db);
    const pool = createPool(embedded.urlFor(db), 10);
    await migrate(pool);
    if (values.profile) profile(pool);
    const built = await buildApp({
      config: loadConfig({
        ADMIN_PASSWORD: PASSWORD,
        DATA_DIR: '/nonexistent',
        LOG_LEVEL: 'silent',
        MAX_UPLOAD_MB: '200',
        REQUIRE_SECOND_APPROVER: 'false',
      }),
      pool,
      cipher: new Cipher('b'.repeat(64)),
      logger: pino({ level: 'error' }),
    });
    await built.auth.ensureFirstAdmin(PASSWORD);
    const app = built.app;
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    const base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    const token = ((await login.json()) as { token: string }).token;
    const auth = { authorization: `Bearer ${token}` };
    const gen = (amountRange?: [number, number]) =>
      Buffer.from(
        generateToString({
          rows: ROWS,
          employees: ROWS / 5,
          sources: 5,
          branches: 30,
          seed: 1,
          ...(amountRange ? { amountRange } : {}),
        }).xml,
      );

    const upload = async (label: string, body: Buffer) => {
      const file = path.join(dir, 'upload.xml');
      writeFileSync(file, body);
      const url = `${base}/api/batches`;
      const { status, ms, text, clientCpuMs } =
        values.client === 'curl'
          ? await curlUpload(url, token, file, label)
          : await nodeUpload(url, token, file, label);
      console.log(`  client (${values.client}) CPU ${clientCpuMs.toFixed(0)} ms`);
      const json = JSON.parse(text) as { batch?: { id: string; summary?: unknown } };
      if (status !== 201 || !json.batch) throw new Error(`${label}: ${status} ${text}`);
      results.push(
        `| ${run} | upload → 201, ${label} (${(body.length / 1048576).toFixed(1)} MB) | ${ms.toFixed(0)} | ${load()} |`,
      );
      console.log(results.at(-1));
      return json.batch.id;
    };
    const approve = async (label: string, id: string) => {
      // The pre-flight's outcome, as the worker would have written it.
      await pool.query(
        `INSERT INTO plaid_merchants (plaid_id, payable, merchant_id)
         SELECT DISTINCT plaid_id, plaid_id <> $2, 'mch_bench' FROM batch_lines WHERE batch_id = $1
         ON CONFLICT (plaid_id) DO NOTHING`,
        [id, UNPAYABLE_PLAID_ID],
      );
      await pool.query("UPDATE batches SET preflight_status = 'complete' WHERE id = $1", [id]);
      const t0 = performance.now();
      const res = await fetch(`${base}/api/batches/${id}/approve`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: '{}',
      });
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`${label} approve: ${res.status} ${await res.text()}`);
      results.push(`| ${run} | approve, ${label} | ${ms.toFixed(0)} | ${load()} |`);
      console.log(results.at(-1));
      // What a worker's planner does right after: the Method objects the batch needs, as rows.
      const p0 = performance.now();
      const plan = await planProvisioning(pool);
      const planMs = performance.now() - p0;
      if (plan?.batchId !== id) throw new Error(`${label}: the planner did not plan this batch`);
      results.push(
        `| ${run} | worker plans provisioning, ${label} (${plan.planned} objects) | ${planMs.toFixed(0)} | ${load()} |`,
      );
      console.log(results.at(-1));
    };

    const first = await upload('first file', gen());
    await approve('first file', first);
    // What the workers would have done between the two files: every person, loan and account made
    // at Method (no worker runs here), so the second approval is the every-two-weeks case.
    await pool.query(`UPDATE employees SET method_entity_id = 'ent_bench_' || employee_id;
      UPDATE loans SET method_account_id = 'acc_bench_' || id; UPDATE payors SET method_entity_id = 'ent_bench_payor';
      UPDATE source_bank_accounts SET method_account_id = 'acc_bench_' || id;
      UPDATE provisioning SET status = 'done', next_run_at = now()`);
    await pool.query('VACUUM ANALYZE');
    const second = await upload('second file, same people', gen([1100, 1999]));
    await approve('second file, same people', second);
    await app.close();
    await pool.end();
  }
  console.log(`\n${ROWS} rows, ${RUNS} runs, ${os.cpus().length} CPUs, node ${process.version}`);
  console.log('| run | step | ms | load average |\n|---|---|---|---|');
  for (const r of results) console.log(r);
} finally {
  await embedded.stop();
  rmSync(dir, { recursive: true, force: true });
}

interface Sent {
  status: number;
  /** from the request's start to the answer (curl: its end, a few kB later; node: its headers) */
  ms: number;
  text: string;
  clientCpuMs: number;
}

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1048576 }, (err, stdout, stderr) =>
      err ? reject(err) : resolve({ stdout, stderr }),
    );
  });
}

/** curl streaming the file (-T) as a POST; bash's `times` gives the CPU its child used. */
async function curlUpload(url: string, token: string, file: string, label: string): Promise<Sent> {
  const answer = `${file}.answer`;
  const { stdout } = await run('bash', [
    '-c',
    'curl -sS -o "$1" -w "%{http_code} %{time_total}\\n" -X POST -H "authorization: Bearer $2" ' +
      '-H "content-type: application/xml" -H "x-file-name: $3" -H "Expect:" -T "$4" "$5" && times',
    'upload',
    answer,
    token,
    `${label}.xml`,
    file,
    url,
  ]);
  const [result, , children] = stdout.trim().split('\n');
  const [code, seconds] = result.split(' ');
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (t, m) => t + Number(m[1]) * 60 + Number(m[2]),
    0,
  );
  return {
    status: Number(code),
    ms: Number(seconds) * 1000,
    text: readFileSync(answer, 'utf8'),
    clientCpuMs: cpu * 1000,
  };
}

async function nodeUpload(url: string, token: string, file: string, label: string): Promise<Sent> {
  const { stdout } = await run(process.execPath, [
    fileURLToPath(new URL('./upload-client.mjs', import.meta.url)),
    url,
    token,
    file,
    `${label}.xml`,
  ]);
  const out = JSON.parse(stdout) as { status: number; ms: number; body: string; cpuMs: number };
  return { status: out.status, ms: out.ms, text: out.body, clientCpuMs: out.cpuMs };
}

/** Prints every statement over 20 ms run through the pool's clients. */
function profile(pool: ReturnType<typeof createPool>) {
  const connect = pool.connect.bind(pool) as () => Promise<PoolClient>;
  // biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
  (pool as any).connect = (cb?: (err: Error | undefined, c?: unknown, done?: unknown) => void) => {
    if (cb) {
      connect().then(
        (c) => cb(undefined, wrap(c), (e?: Error) => c.release(e)),
        (e: Error) => cb(e),
      );
      return undefined;
    }
    return connect().then(wrap);
  };
  const wrap = (c: PoolClient) => {
    // biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
    if ((c as any).__profiled) return c;
    const q = c.query.bind(c);
    // biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
    (c as any).__profiled = true;
    // biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
    (c as any).query = (...a: any[]) => {
      const s = performance.now();
      const res = (q as (...args: unknown[]) => unknown)(...a);
      if (res && typeof (res as Promise<unknown>).then === 'function') {
        (res as Promise<unknown>).then(
          () => {
            const d = performance.now() - s;
            const text = typeof a[0] === 'string' ? a[0] : (a[0]?.text ?? String(a[0]));
            if (d > 20)
              console.log(`  ${d.toFixed(0)} ms ${String(text).replace(/\s+/g, ' ').slice(0, 100)}`);
          },
          () => {},
        );
      }
      return res;
    };
    return c;
  };
}
