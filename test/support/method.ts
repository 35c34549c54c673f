// A real Method simulator for a test file (its own empty database), a client pointed at it, and
// helpers to take a generated file from upload to an approved batch.
import pino from 'pino';
import { afterAll, expect } from 'vitest';
import { type GenOptions, generateToString } from '../../bench/generator.js';
import { MethodClient } from '../../src/method/client.js';
import type { Pool } from '../../src/server/db.js';
import { Worker, type WorkerOptions } from '../../src/server/execution/worker.js';
import { Cipher } from '../../src/server/secrets.js';
import { type RunningSimulator, startSimulator } from '../../src/simulator/start.js';
import { TEST_KEY, type TestApp } from './app.js';
import { createEmptyDatabase } from './db.js';

export interface TestMethod {
  sim: RunningSimulator;
  simPool: Pool;
  client: MethodClient;
  setFaults(faults: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
  /** Method payments per LoanPay payment id (from the metadata the worker sends). */
  paymentsByLoanPayId(): Promise<Map<string, { id: string; status: string }[]>>;
}

export async function startTestMethod(
  opts: { stepMs?: number; clientTimeoutMs?: number; faults?: Record<string, unknown> } = {},
): Promise<TestMethod> {
  const db = await createEmptyDatabase();
  const sim = await startSimulator({
    pool: db.pool,
    port: 0,
    logger: false,
    stepMs: opts.stepMs ?? 3_600_000,
    paymentsPerMinute: 0,
    faults: opts.faults,
  });
  const client = new MethodClient({
    baseUrl: sim.url,
    apiKey: 'sk_test_loanpay',
    version: '2025-07-04',
    timeoutMs: opts.clientTimeoutMs ?? 5000,
  });
  afterAll(async () => {
    await client.close();
    await sim.close();
  });
  const faults = async (method: 'PUT' | 'DELETE', body?: unknown) => {
    const r = await fetch(`${sim.url}/simulator/faults`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(r.status).toBe(200);
  };
  return {
    sim,
    simPool: db.pool,
    client,
    setFaults: (f) => faults('PUT', f),
    clearFaults: () => faults('DELETE'),
    async paymentsByLoanPayId() {
      const { rows } = await db.pool.query(
        "SELECT id, status, data->'metadata' AS metadata FROM sim_payments",
      );
      const m = new Map<string, { id: string; status: string }[]>();
      for (const r of rows) {
        const key = String((r.metadata as Record<string, unknown> | null)?.loanpay_payment_id ?? '');
        m.set(key, [...(m.get(key) ?? []), { id: r.id, status: r.status }]);
      }
      return m;
    },
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Uploads as operator, waits for the pre-flight, approves as approver; returns the batch id. */
export async function uploadAndApprove(
  t: TestApp,
  gen: GenOptions,
): Promise<{ batchId: string; xml: string; rows: number }> {
  const { xml, result } = generateToString(gen);
  const up = await t.as('operator', {
    method: 'POST',
    url: '/api/batches',
    headers: { 'content-type': 'application/xml' },
    payload: xml,
  });
  expect(up.statusCode, up.body).toBe(201);
  const batchId = up.json().batch.id as string;
  await waitFor('pre-flight', async () => {
    const b = (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json();
    return b.summary.preflight.status === 'complete';
  });
  const ap = await t.as('approver', { method: 'POST', url: `/api/batches/${batchId}/approve` });
  expect(ap.statusCode, ap.body).toBe(200);
  return { batchId, xml, rows: result.rowCount };
}

export function startWorker(t: TestApp, m: TestMethod, opts: Partial<WorkerOptions> = {}): Worker {
  const w = new Worker({
    pool: t.db.pool,
    client: m.client,
    cipher: new Cipher(TEST_KEY),
    logger: pino({ level: 'silent' }),
    concurrency: 16,
    paymentsPerMinute: 0,
    leaseMs: 10_000,
    idleMs: 20,
    sweepEveryMs: 200,
    retryBudget: 6,
    backoff: { baseMs: 100, capMs: 2000 },
    preflight: t.built.preflight,
    ...opts,
  });
  w.start();
  afterAll(() => w.stop());
  return w;
}

/** Invariants after a run: ledger balanced, aggregates = payments. */
export async function expectBooksConsistent(t: TestApp, batchId: string): Promise<void> {
  const ledger = (await t.as('auditor', { method: 'GET', url: '/api/ledger/check' })).json();
  expect(ledger.accountMismatches).toEqual([]);
  expect(ledger.unbalancedPostings).toEqual([]);
  expect(ledger.balanced).toBe(true);
  const agg = await t.db.pool.query(
    `SELECT source_id, branch_id, grp, sum(count_delta)::int AS n, sum(cents_delta)::bigint AS c FROM batch_aggregate_deltas
      WHERE batch_id = $1 GROUP BY 1, 2, 3 HAVING sum(count_delta) <> 0 OR sum(cents_delta) <> 0 ORDER BY 1, 2, 3`,
    [batchId],
  );
  const fresh = await t.db.pool.query(
    `SELECT source_id, branch_id, CASE WHEN status IN ('paid', 'failed', 'returned', 'cancelled') THEN status ELSE 'pending' END AS grp,
            count(*)::int AS n, sum(amount_cents)::bigint AS c FROM payments WHERE batch_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
    [batchId],
  );
  expect(agg.rows).toEqual(fresh.rows);
}
