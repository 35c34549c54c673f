// Benchmark: webhook intake (POST /webhooks/method: verify token + HMAC over the raw body, store the
// event once, answer 200) on the real app over loopback. The load generator runs in its own process
// and signs every delivery as Method does; a share of deliveries repeat an earlier event (Method's
// redeliveries), which must be answered 200 and stored once.
//   npx tsx bench/webhooks.ts [--count 20000] [--concurrency 32] [--rate 0] [--duplicates 0.1] [--warmup 0] [--log-level warn]
// --warmup N: N deliveries (events of their own) at the same rate first, not counted: a server that
// has just started compiles its hot paths and opens its connections during the first second, and
// in an open loop that one stall delays every delivery due meanwhile. Both figures are worth having.
// --rate N: open loop at N deliveries/s (latency from each delivery's scheduled time, so a stall is
// not hidden); --rate 0: closed loop, as fast as `concurrency` in-flight deliveries allow.
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Pool as HttpPool } from 'undici';
import { webhookHeaders } from '../src/method/webhook-signature.js';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { createPool } from '../src/server/db.js';
import { ensureDatabase, startEmbeddedPostgres } from '../src/server/embedded-pg.js';
import { migrate } from '../src/server/migrate.js';
import { Cipher } from '../src/server/secrets.js';
import { webhookCredentials } from '../src/server/webhooks/credentials.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '32' },
    rate: { type: 'string', default: '0' },
    duplicates: { type: 'string', default: '0.1' },
    warmup: { type: 'string', default: '0' },
    'log-level': { type: 'string', default: 'warn' },
    pool: { type: 'string', default: '20' },
    generator: { type: 'boolean', default: false },
    url: { type: 'string' },
  },
});
const SECRET = 'bench-webhook-secret-0123456789abcdef';
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const rate = Number(values.rate);
const duplicates = Number(values.duplicates);
const warmup = Number(values.warmup);

interface GeneratorResult {
  ok: number;
  failed: number;
  latencies: number[];
  /** The slowest delivery due in each second of the run: where the tail sits in time. */
  worstBySecond: number[];
  seconds: number;
}

/** The load generator (child process): signed deliveries, keep-alive connections. */
async function generate(url: string): Promise<GeneratorResult> {
  const creds = webhookCredentials(SECRET);
  const u = new URL(url);
  const http = new HttpPool(u.origin, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let next = 0;
  const body = (i: number, prefix = 'bench') => {
    // Every tenth-or-so delivery repeats an earlier event, byte for byte (a redelivery).
    const n = i > 10 && (i * 2654435761) % 1000 < duplicates * 1000 ? Math.floor(i / 2) : i;
    return JSON.stringify({
      webhook_id: 'whk_bench',
      id: `pmt_${prefix}${n}`,
      type: 'payment.update',
      op: 'update',
      path: `/payments/pmt_${prefix}${n}`,
      event: `evt_${prefix}${n}`,
      refs: { entity: 'ent_bench' },
    });
  };
  let measuring = true;
  let started = performance.now();
  const worstBySecond: number[] = [];
  const send = async (i: number, scheduledAt: number) => {
    const raw = body(i, measuring ? 'bench' : 'warm');
    const headers = webhookHeaders({
      rawBody: raw,
      authToken: creds.authToken,
      hmacSecret: creds.hmacSecret,
    });
    try {
      const res = await http.request({ method: 'POST', path: u.pathname, headers, body: raw });
      await res.body.dump();
      if (res.statusCode === 200) ok++;
      else failed++;
    } catch {
      failed++;
    }
    if (!measuring) return;
    const ms = performance.now() - scheduledAt;
    latencies.push(ms);
    const sec = Math.floor((scheduledAt - started) / 1000);
    worstBySecond[sec] = Math.max(worstBySecond[sec] ?? 0, Number(ms.toFixed(1)));
  };
  const openLoop = async (n: number) => {
    const inflight = new Set<Promise<void>>();
    for (let i = 0; i < n; i++) {
      const at = started + (i * 1000) / rate;
      const wait = at - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const p: Promise<void> = send(i, at).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
  };
  if (warmup > 0) {
    measuring = false;
    if (rate > 0) await openLoop(warmup);
    else for (let i = 0; i < warmup; i++) await send(i, performance.now());
    measuring = true;
    ok = 0;
    failed = 0;
  }
  started = performance.now();
  if (rate > 0) {
    await openLoop(count);
  } else {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          await send(i, performance.now());
        }
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  await http.close();
  return { ok, failed, latencies, worstBySecond, seconds };
}

async function main() {
  if (values.generator) {
    const r = await generate(values.url as string);
    // Exit once the result is handed over: an open IPC channel (or a keep-alive socket) must not
    // keep the generator, and so the run, alive after it is done.
    process.send?.(r, () => process.exit(0));
    return;
  }
  const dir = path.join(os.tmpdir(), `webhook-bench-${process.pid}`);
  let databaseUrl = process.env.DATABASE_URL;
  const embedded = databaseUrl ? null : await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });
  if (embedded) {
    await ensureDatabase(embedded.url, 'loanpay');
    databaseUrl = embedded.urlFor('loanpay');
  }
  const pool = createPool(databaseUrl as string, Number(values.pool));
  await migrate(pool);
  await pool.query('TRUNCATE webhook_events');
  const settings = await pool.query(
    "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc",
  );
  const config = loadConfig({ DATA_DIR: dir, LOG_LEVEL: values['log-level'], METHOD_WEBHOOK_SECRET: SECRET });
  const logger = pino({ level: values['log-level'] as string }, pino.destination('/dev/null'));
  const { app } = await buildApp({ config, pool, cipher: new Cipher('b'.repeat(64)), logger });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const a = app.server.address();
  const url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/webhooks/method`;

  const cpuBefore = process.cpuUsage();
  const child = fork(
    fileURLToPath(import.meta.url),
    [...process.argv.slice(2), '--generator', '--url', url],
    {
      execArgv: process.execArgv,
    },
  );
  const r = await new Promise<GeneratorResult>((resolve, reject) => {
    child.once('message', (m) => resolve(m as GeneratorResult));
    child.once('error', reject);
    child.once('exit', (code) => code !== 0 && reject(new Error(`generator exited with ${code}`)));
  });
  const cpu = process.cpuUsage(cpuBefore);
  const stored = await pool.query(
    "SELECT count(*)::int AS n, coalesce(sum(deliveries), 0)::int AS d FROM webhook_events WHERE event_id LIKE 'evt\\_bench%'",
  );
  const latencies = [...r.latencies].sort((x, y) => x - y);
  const pct = (p: number) =>
    Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(2));
  console.log(
    JSON.stringify(
      {
        deliveries: count,
        ok: r.ok,
        failed: r.failed,
        storedEvents: stored.rows[0].n,
        deliveriesCounted: stored.rows[0].d,
        seconds: Number(r.seconds.toFixed(2)),
        deliveriesPerSecond: Math.round(r.ok / r.seconds),
        latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99), max: pct(100) },
        worstMsBySecond: r.worstBySecond,
        warmupDeliveries: warmup,
        serverCpuMsPerDelivery: Number(((cpu.user + cpu.system) / 1000 / count).toFixed(3)),
        loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
        mode: rate > 0 ? `open loop at ${rate}/s` : `closed loop, ${concurrency} in flight`,
        logLevel: values['log-level'],
        poolSize: Number(values.pool),
        postgres: {
          fsync: settings.rows[0].fsync,
          synchronous_commit: settings.rows[0].sc,
          embedded: Boolean(embedded),
        },
        cpus: os.cpus().length,
        node: process.version,
      },
      null,
      2,
    ),
  );
  await app.close();
  await pool.end();
  await embedded?.stop();
  if (embedded) rmSync(dir, { recursive: true, force: true });
}

main()
  // Figures printed, teardown done: nothing left worth waiting for. (The generator exits from its
  // send callback, once the parent has its result.)
  .then(() => values.generator || process.exit(0))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
