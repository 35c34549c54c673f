// Profiles ingest + approval of a generated file on a fresh embedded PostgreSQL, printing every statement
// over 20 ms. Usage: npx tsx bench/profile-approval.ts [rows=10000] [--explain]
import { rmSync } from 'node:fs';
import { generateToString } from '../bench/generator.js';
import { approveBatch } from '../src/server/batches/approval.js';
import { createPool, withTransaction } from '../src/server/db.js';
import { ensureDatabase, startEmbeddedPostgres } from '../src/server/embedded-pg.js';
import { IngestService } from '../src/server/ingest/ingest.service.js';
import { migrate } from '../src/server/migrate.js';
import { Cipher } from '../src/server/secrets.js';

rmSync('.tmp/profile-approval', { recursive: true, force: true });
const db = await startEmbeddedPostgres({ dataDir: '.tmp/profile-approval/pg' });
await ensureDatabase(db.url, 'x');
const pool = createPool(db.urlFor('x'));
await migrate(pool);
const rows = Number(process.argv[2] ?? 10000);
const { xml } = generateToString({ rows, employees: rows / 5, sources: 5, branches: 30, seed: 1 });
const ing = new IngestService({ pool, cipher: new Cipher('c'.repeat(64)), annualLimitCents: 525000 });
const orig = pool.connect.bind(pool);
// biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
(pool as any).connect = (cb?: (err: unknown, client?: unknown) => void) => {
  // pool.query calls connect with a callback; everything else awaits it.
  const p = shimmed();
  if (!cb) return p;
  p.then((c) => cb(undefined, c), cb);
  return undefined;
};
const wrapped = new WeakSet<object>();
const shimmed = async () => {
  const c = await orig();
  if (wrapped.has(c)) return c;
  wrapped.add(c);
  const q = c.query.bind(c);
  if (process.argv.includes('--explain')) {
    // auto_explain sends the analysed plan of every statement over 300 ms to this client.
    c.on('notice', (n) => console.log(n.message));
    for (const sql of [
      "LOAD 'auto_explain'",
      'SET auto_explain.log_min_duration = 300',
      'SET auto_explain.log_analyze = on',
      'SET auto_explain.log_buffers = on',
      'SET auto_explain.log_level = notice',
    ])
      await q(sql);
  }
  // biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
  (c as any).query = (...a: any[]) => {
    // A COPY (pg-copy-streams) returns its stream, not a promise: pass it through untimed.
    if (typeof a[0] === 'object' && typeof a[0]?.submit === 'function') return q(...(a as [never]));
    return timed(a);
  };
  // biome-ignore lint/suspicious/noExplicitAny: profiling shim around pg internals
  const timed = async (a: any[]) => {
    const s = performance.now();
    const res = await (q as (...args: unknown[]) => Promise<unknown>)(...a);
    const d = performance.now() - s;
    if (d > 20) console.log(d.toFixed(0), 'ms', String(a[0]).replace(/\s+/g, ' ').slice(0, 90));
    return res;
  };
  return c;
};
let t = performance.now();
const r = await ing.ingest({
  fileName: 'x',
  body: (async function* () {
    yield Buffer.from(xml);
  })(),
  maxBytes: 1e9,
  actor: { userId: null, username: 'x', clientAddress: null },
});
console.log('ingest', (performance.now() - t).toFixed(0), 'ms');
await pool.query(
  "INSERT INTO plaid_merchants (plaid_id, payable, merchant_id) SELECT DISTINCT plaid_id, plaid_id <> 'ins_116527', 'mch_1' FROM batch_lines",
);
await pool.query("UPDATE batches SET preflight_status = 'complete'");
t = performance.now();
await withTransaction(pool, (tx) =>
  approveBatch(
    tx,
    r.batchId,
    { userId: null, username: 'x', clientAddress: null },
    { requireSecondApprover: false },
  ),
);
console.log('approve', (performance.now() - t).toFixed(0), 'ms');
await pool.end();
await db.stop();
