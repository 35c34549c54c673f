// Fault 5 of reliability.md: worker processes killed with SIGKILL at random points during a batch,
// then restarted. Every row is paid at most once and none is lost; the books add up.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, TEST_KEY, type TestApp } from '../support/app.js';
import {
  expectBooksConsistent,
  startTestMethod,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';

let t: TestApp;
let m: TestMethod;
beforeAll(async () => {
  m = await startTestMethod({ clientTimeoutMs: 3000 });
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function spawnWorker(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/worker-main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: t.db.url,
      ENCRYPTION_KEY: TEST_KEY,
      METHOD_WEBHOOK_SECRET: 'test-webhook-secret',
      METHOD_API_URL: m.sim.url,
      METHOD_API_KEY: 'sk_test_loanpay',
      METHOD_PAYMENTS_PER_MINUTE: '0',
      WORKER_CONCURRENCY: '16',
      WORKER_LEASE_MS: '3000',
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

describe('worker processes killed at random', () => {
  it('every payable row reaches Method exactly once; ledger and aggregates agree', async () => {
    const { batchId } = await uploadAndApprove(t, {
      rows: 800,
      employees: 160,
      sources: 5,
      branches: 10,
      seed: 301,
    });
    // A seeded sequence of kill times, so a failure can be replayed.
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const progress = async () => {
      const r = await t.db.pool.query(
        `SELECT count(*) FILTER (WHERE status IN ('queued', 'submitting', 'retry_scheduled', 'unknown'))::int AS open,
                count(*) FILTER (WHERE status = 'submitted')::int AS submitted
           FROM payments WHERE batch_id = $1`,
        [batchId],
      );
      return r.rows[0] as { open: number; submitted: number };
    };
    const killOne = () => {
      const alive = [...children];
      alive[Math.floor(rand() * alive.length)]!.kill('SIGKILL');
      while (children.size < 2) spawnWorker();
    };
    spawnWorker();
    spawnWorker();

    // 1. Kills while the people and their accounts are being created at Method.
    for (let i = 0; i < 3; i++) {
      await sleep(700 + rand() * 1500);
      killOne();
    }
    // 2. Kills while payments are being submitted: Method slowed down so every worker has calls in
    // flight, and each kill only after the workers made progress since the one before.
    await waitFor('submission to begin', async () => (await progress()).submitted > 0, 120_000, 200);
    await m.setFaults({ latencyMs: 150 });
    let killsDuringSubmission = 0;
    while (killsDuringSubmission < 4) {
      const before = await progress();
      if (before.open === 0) break;
      await waitFor(
        'progress between kills',
        async () => {
          const now = await progress();
          return now.open === 0 || now.submitted > before.submitted + 20;
        },
        60_000,
        100,
      );
      if ((await progress()).open === 0) break;
      await sleep(rand() * 400);
      killOne();
      killsDuringSubmission++;
    }
    expect(killsDuringSubmission).toBe(4);
    await m.clearFaults();
    // Let the survivors finish: expired leases are swept to unknown and resolved at Method.
    await waitFor(
      'all payable rows submitted',
      async () => {
        const r = await t.db.pool.query(
          "SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status IN ('queued', 'submitting', 'retry_scheduled', 'unknown')",
          [batchId],
        );
        return r.rows[0].n === 0;
      },
      90_000,
      250,
    );
    for (const c of children) c.kill('SIGTERM');
    const counts = await t.db.pool.query(
      'SELECT status, count(*)::int AS n FROM payments WHERE batch_id = $1 GROUP BY status ORDER BY status',
      [batchId],
    );
    const byStatus = Object.fromEntries(counts.rows.map((r) => [r.status, r.n]));
    const reasons = await t.db.pool.query(
      "SELECT review_reason, count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'needs_review' GROUP BY 1",
      [batchId],
    );
    expect({ byStatus, reasons: reasons.rows }).toEqual({
      byStatus: { submitted: byStatus.submitted, cancelled: byStatus.cancelled },
      reasons: [],
    });
    expect((byStatus.submitted ?? 0) + (byStatus.cancelled ?? 0)).toBe(800);
    const atMethod = await m.paymentsByLoanPayId();
    const { rows } = await t.db.pool.query(
      'SELECT id, status, method_payment_id FROM payments WHERE batch_id = $1',
      [batchId],
    );
    for (const p of rows) {
      const held = atMethod.get(p.id) ?? [];
      if (p.status === 'submitted') {
        expect(held).toHaveLength(1);
        expect(held[0]!.id).toBe(p.method_payment_id);
      } else expect(held).toHaveLength(0);
    }
    // Method objects were created once each despite the kills.
    const dupEntities = await m.simPool.query(
      `SELECT count(*)::int AS n FROM (SELECT data->'metadata'->>'loanpay_employee_id' AS e FROM sim_entities
        WHERE data->>'type' = 'individual' GROUP BY 1 HAVING count(*) > 1) d`,
    );
    expect(dupEntities.rows[0].n).toBe(0);
    const dupLoans = await m.simPool.query(
      `SELECT count(*)::int AS n FROM (SELECT data->'metadata'->>'loanpay_loan_id' AS l FROM sim_accounts
        WHERE data->>'type' = 'liability' GROUP BY 1 HAVING count(*) > 1) d`,
    );
    expect(dupLoans.rows[0].n).toBe(0);
    // Some kills caught payments mid-call: their leases expired and the sweeper handed them back.
    const swept = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM payment_events e JOIN payments p ON p.id = e.payment_id
        WHERE p.batch_id = $1 AND e.cause = 'sweeper' AND e.from_status = 'submitting'`,
      [batchId],
    );
    expect(swept.rows[0].n).toBeGreaterThan(0);
    await expectBooksConsistent(t, batchId);
  }, 180_000);
});
