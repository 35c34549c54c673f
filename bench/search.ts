// Benchmark: GET /api/employees?q= over real HTTP with 10k employees on file: partial names (2 to
// 6 letters), full names, full ids and id fragments — latency percentiles per kind and overall.
// Embedded PostgreSQL (or DATABASE_URL), the real app, a generated file uploaded through the API.
//   npx tsx bench/search.ts [--employees 10000] [--queries 2000]
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
import { generateToString } from './generator.js';

const { values } = parseArgs({
  options: {
    employees: { type: 'string', default: '10000' },
    queries: { type: 'string', default: '2000' },
  },
});
const EMPLOYEES = Number(values.employees);
const QUERIES = Number(values.queries);
const PASSWORD = 'bench-password-123';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

/** Deterministic choices, so two runs ask the same questions. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

async function main() {
  const dir = path.join(os.tmpdir(), `search-bench-${process.pid}`);
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

  // Two rows per employee (search reads employees, not rows); some accented names.
  const { xml } = generateToString({
    rows: EMPLOYEES * 2,
    employees: EMPLOYEES,
    sources: 5,
    branches: 400,
    seed: 21,
    utf8Names: true,
  });
  const up = await app.inject({
    method: 'POST',
    url: '/api/batches',
    headers: { ...auth, 'content-type': 'application/xml', 'x-file-name': 'search.xml' },
    payload: xml,
  });
  if (up.statusCode !== 201) throw new Error(`upload: ${up.statusCode} ${up.body.slice(0, 300)}`);
  await pool.query('VACUUM ANALYZE employees');
  const people = (await pool.query('SELECT employee_id, first_name, last_name FROM employees')).rows;
  console.log(`${people.length} employees on file`);

  const pick = rng(7);
  const person = () => people[pick(people.length)]!;
  const fragment = (s: string, len: number) => {
    const start = pick(Math.max(1, s.length - len + 1));
    return s.slice(start, start + len);
  };
  const kinds: Record<string, () => string> = {
    'partial name, 2 letters': () => fragment(person().last_name, 2),
    'partial name, 3 letters': () => fragment(person().last_name, 3),
    'partial name, 4-6 letters': () => fragment(person().first_name, 4 + pick(3)),
    'full name': () => {
      const p = person();
      return `${p.first_name} ${p.last_name}`;
    },
    'full id': () => person().employee_id,
    'id fragment (8 hex)': () => person().employee_id.slice(4, 12),
  };
  const ask = async (q: string) => {
    const t0 = performance.now();
    const r = await fetch(`${base}/api/employees?q=${encodeURIComponent(q)}`, { headers: auth });
    const body = (await r.json()) as { items: unknown[] };
    if (r.status !== 200) throw new Error(`search ${q}: ${r.status}`);
    return { ms: performance.now() - t0, n: body.items.length };
  };
  for (let i = 0; i < 100; i++) await ask(kinds['partial name, 3 letters']!()); // warm-up

  const all: number[] = [];
  const names = Object.keys(kinds);
  const byKind: Record<string, { ms: number[]; hits: number[] }> = {};
  for (let i = 0; i < QUERIES; i++) {
    const kind = names[i % names.length]!;
    const r = await ask(kinds[kind]!());
    all.push(r.ms);
    byKind[kind] ??= { ms: [], hits: [] };
    byKind[kind].ms.push(r.ms);
    byKind[kind].hits.push(r.n);
  }
  for (const [kind, r] of Object.entries(byKind)) {
    console.log(
      `${kind.padEnd(26)} n=${r.ms.length} median hits ${pct(r.hits, 50)}; p50 ${pct(r.ms, 50).toFixed(1)} ms, ` +
        `p95 ${pct(r.ms, 95).toFixed(1)} ms, p99 ${pct(r.ms, 99).toFixed(1)} ms, max ${pct(r.ms, 100).toFixed(1)} ms`,
    );
  }
  console.log(
    `ALL ${all.length} queries: p50 ${pct(all, 50).toFixed(1)} ms, p95 ${pct(all, 95).toFixed(1)} ms, p99 ${pct(all, 99).toFixed(1)} ms`,
  );

  await app.close();
  await pool.end();
  await embedded?.stop();
  if (embedded) rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
