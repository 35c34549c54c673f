// Submission against the real simulator (faults 6, 7, 8, 11, 13 of reliability.md): every row
// reaches Method at most once — with faults, crashes, stale workers and cancels — and the books add up.
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateToString } from '../../bench/generator.js';
import { withTransaction } from '../../src/server/db.js';
import { claimPayments, Submitter } from '../../src/server/execution/submitter.js';
import { transitionPayment } from '../../src/server/payments/payments.repository.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  expectBooksConsistent,
  startTestMethod,
  startWorker,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';

let t: TestApp;
let m: TestMethod;
beforeAll(async () => {
  m = await startTestMethod({ clientTimeoutMs: 1500 });
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

const statusCounts = async (batchId: string) => {
  const { rows } = await t.db.pool.query(
    'SELECT status, count(*)::int AS n FROM payments WHERE batch_id = $1 GROUP BY status',
    [batchId],
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n])) as Record<string, number>;
};

/** Invariant 1: one Method payment per row at most, and exactly one for each row Method accepted. */
async function expectOnePaymentPerRow(batchId: string) {
  const atMethod = await m.paymentsByLoanPayId();
  const { rows } = await t.db.pool.query(
    'SELECT id, status, method_payment_id FROM payments WHERE batch_id = $1',
    [batchId],
  );
  for (const p of rows) {
    const held = (atMethod.get(p.id) ?? []).filter((x) => x.status !== 'canceled');
    expect(
      held.length,
      `payment ${p.id} (${p.status}) has ${held.length} live Method payments`,
    ).toBeLessThanOrEqual(1);
    if (p.status === 'submitted') {
      expect(held).toHaveLength(1);
      expect(held[0]!.id).toBe(p.method_payment_id);
    }
    if (p.status === 'cancelled') expect(held).toHaveLength(0);
  }
}

/** Lets a worker create the batch's Method accounts while the batch is paused (so nothing is
 * submitted), then resumes it with every payment claimable by hand. */
async function provisionWithoutSubmitting(batchId: string) {
  await t.as('operator', { method: 'POST', url: `/api/batches/${batchId}/pause` });
  const w = startWorker(t, m);
  await waitFor('accounts provisioned', async () => {
    const r = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM payments p JOIN loans l ON l.id = p.loan_id
        WHERE p.batch_id = $1 AND p.status = 'queued' AND l.method_account_id IS NULL`,
      [batchId],
    );
    return r.rows[0].n === 0;
  });
  await w.stop();
  await t.as('operator', { method: 'POST', url: `/api/batches/${batchId}/resume` });
}

const settled = (c: Record<string, number>) => !c.queued && !c.submitting && !c.retry_scheduled && !c.unknown;

/**
 * A worker that dies between Method's answer and its own commit: one payment of a small provisioned
 * batch is claimed and created at Method with its attempt's key, and nothing is written back.
 */
async function createdAtMethodWithoutCommit(seed: number) {
  const { batchId } = await uploadAndApprove(t, { rows: 30, employees: 10, sources: 2, branches: 2, seed });
  await provisionWithoutSubmitting(batchId);
  const [p] = await claimPayments(t.db.pool, 1, 60_000, 'crashing-worker');
  if (!p) throw new Error('nothing to claim');
  const created = await m.client.createPayment(
    {
      amount: p.amount_cents,
      source: p.source_account!,
      destination: p.destination_account!,
      description: 'LoanPay',
      metadata: { loanpay_payment_id: p.id, loanpay_attempt_id: p.attempt_id },
    },
    p.idempotency_key,
  );
  if (created.kind !== 'ok') throw new Error(`create: ${created.kind}`);
  return { batchId, p, methodPayment: created.data };
}

/** The dead worker's lease runs out; a new worker settles the batch. Returns the payment's history. */
async function recoverAfterCrash(batchId: string, paymentId: string): Promise<string[]> {
  await t.db.pool.query("UPDATE payments SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [
    paymentId,
  ]);
  const w2 = startWorker(t, m);
  await waitFor('all settled', async () => settled(await statusCounts(batchId)));
  await w2.stop();
  return (await t.as('auditor', { method: 'GET', url: `/api/payments/${paymentId}` }))
    .json()
    .history.map((h: { toStatus: string }) => h.toStatus);
}

describe('submission', () => {
  it('creates each Method object once and one payment per payable row', async () => {
    const w = startWorker(t, m);
    const { batchId } = await uploadAndApprove(t, {
      rows: 240,
      employees: 60,
      sources: 5,
      branches: 5,
      seed: 201,
    });
    const c = await waitFor('all submitted', async () => {
      const c = await statusCounts(batchId);
      return settled(c) ? c : null;
    });
    await w.stop();
    expect(c.needs_review ?? 0).toBe(0);
    expect((c.submitted ?? 0) + (c.cancelled ?? 0)).toBe(240);
    await expectOnePaymentPerRow(batchId);
    await expectBooksConsistent(t, batchId);
    const sim = await m.simPool.query(
      `SELECT (SELECT count(*)::int FROM sim_entities WHERE data->>'type' = 'individual') AS individuals,
              (SELECT count(*)::int FROM sim_entities WHERE data->>'type' = 'corporation') AS corporations,
              (SELECT count(*)::int FROM sim_accounts WHERE data->>'type' = 'ach') AS ach,
              (SELECT count(*)::int FROM sim_accounts WHERE data->>'type' = 'liability') AS liabilities`,
    );
    const ours = await t.db.pool.query(
      `SELECT (SELECT count(DISTINCT employee_id)::int FROM payments WHERE batch_id = $1 AND status <> 'cancelled') AS employees,
              (SELECT count(DISTINCT loan_id)::int FROM payments WHERE batch_id = $1 AND status <> 'cancelled') AS loans,
              (SELECT count(DISTINCT source_bank_account_id)::int FROM payments WHERE batch_id = $1) AS sources`,
      [batchId],
    );
    expect(sim.rows[0]).toEqual({
      individuals: ours.rows[0].employees,
      corporations: 1,
      ach: ours.rows[0].sources,
      liabilities: ours.rows[0].loans,
    });
  });

  it('a second batch of the same people creates no new Method objects', async () => {
    const before = await m.simPool.query(
      'SELECT (SELECT count(*)::int FROM sim_entities) AS e, (SELECT count(*)::int FROM sim_accounts) AS a',
    );
    const w = startWorker(t, m);
    // Same seed, same people and loans; amounts shifted so the rows differ from the first batch.
    const { batchId } = await uploadAndApprove(t, {
      rows: 240,
      employees: 60,
      sources: 5,
      branches: 5,
      seed: 201,
      amountRange: [1100, 1999],
    });
    await waitFor('all submitted', async () => settled(await statusCounts(batchId)));
    await w.stop();
    const after = await m.simPool.query(
      'SELECT (SELECT count(*)::int FROM sim_entities) AS e, (SELECT count(*)::int FROM sim_accounts) AS a',
    );
    expect(after.rows[0]).toEqual(before.rows[0]);
    await expectOnePaymentPerRow(batchId);
  });

  it('timeouts, lost responses, 5xx storms, stored 500s, idempotency outages and 429s: never paid twice, nothing lost', async () => {
    const { batchId } = await uploadAndApprove(t, {
      rows: 200,
      employees: 50,
      sources: 5,
      branches: 5,
      seed: 202,
    });
    await m.setFaults({
      timeoutRate: 0.15,
      lostResponseRate: 0.15,
      errorRate: 0.2,
      idempotencyUnavailableRate: 0.1,
      rateLimitRate: 0.05,
      timeoutHoldMs: 1800,
    });
    const w = startWorker(t, m, { retryBudget: 30 });
    try {
      await waitFor(
        'some payments through the storm',
        async () => ((await statusCounts(batchId)).submitted ?? 0) > 20,
        60_000,
      );
    } finally {
      await m.clearFaults();
    }
    const c = await waitFor(
      'all settled',
      async () => {
        const c = await statusCounts(batchId);
        return settled(c) ? c : null;
      },
      90_000,
    );
    await w.stop();
    expect((c.submitted ?? 0) + (c.cancelled ?? 0) + (c.needs_review ?? 0)).toBe(200);
    const attempts = await t.db.pool.query(
      `SELECT count(*) FILTER (WHERE attempts > 1)::int AS multi, max(attempts)::int AS most FROM payments WHERE batch_id = $1`,
      [batchId],
    );
    // Stored 500s replay forever for their key: those payments needed a second attempt (new key).
    expect(attempts.rows[0].multi).toBeGreaterThan(0);
    const unknownSeen = await t.db.pool.query(
      `SELECT count(DISTINCT e.payment_id)::int AS n FROM payment_events e JOIN payments p ON p.id = e.payment_id
        WHERE p.batch_id = $1 AND e.to_status = 'unknown'`,
      [batchId],
    );
    expect(unknownSeen.rows[0].n).toBeGreaterThan(0);
    await expectOnePaymentPerRow(batchId);
    await expectBooksConsistent(t, batchId);
  }, 180_000);

  it('a crash after Method accepted a payment but before our commit: the key is reused, Method holds one payment', async () => {
    const { batchId, p, methodPayment } = await createdAtMethodWithoutCommit(203);
    const history = await recoverAfterCrash(batchId, p.id);
    const row = (
      await t.db.pool.query('SELECT status, method_payment_id, attempts FROM payments WHERE id = $1', [p.id])
    ).rows[0];
    expect(row).toEqual({ status: 'submitted', method_payment_id: methodPayment.id, attempts: 1 });
    expect(history).toEqual(['queued', 'submitting', 'unknown', 'submitting', 'submitted']);
    await expectOnePaymentPerRow(batchId);
  });

  it('a lost answer looked up after Method returned the payment: returned (not failed), released, books agree', async () => {
    // Seen in the 50k drill: an attempt went unknown, and by the time the look-up found the payment
    // Method had sent it and it had come back (failed with the source side sent). That is a return.
    const { batchId, p, methodPayment } = await createdAtMethodWithoutCommit(208);
    // The worker never hears back; meanwhile Method sends the payment and it is returned.
    for (const status of ['processing', 'sent'] as const) {
      const now = await m.client.getPayment(methodPayment.id);
      if (now.kind === 'ok' && now.data.status === 'pending' && status === 'processing')
        expect((await m.client.simulatePaymentStatus(methodPayment.id, { status })).kind).toBe('ok');
      if (now.kind === 'ok' && now.data.status === 'processing' && status === 'sent')
        expect((await m.client.simulatePaymentStatus(methodPayment.id, { status })).kind).toBe('ok');
    }
    const back = await m.client.simulatePaymentStatus(methodPayment.id, {
      status: 'failed',
      error_code: 10009,
    });
    expect(back.kind === 'ok' && back.data.source_status).toBe('sent');
    const history = await recoverAfterCrash(batchId, p.id);
    const row = (
      await t.db.pool.query('SELECT status, method_was_sent, failure_code FROM payments WHERE id = $1', [
        p.id,
      ])
    ).rows[0];
    expect(row).toMatchObject({ status: 'returned', method_was_sent: true });
    expect(history).toEqual(['queued', 'submitting', 'unknown', 'submitting', 'returned']);
    await expectOnePaymentPerRow(batchId);
    await expectBooksConsistent(t, batchId);
  });

  it('a worker paused past its lease cannot win: its late update changes nothing', async () => {
    const { batchId } = await uploadAndApprove(t, {
      rows: 20,
      employees: 5,
      sources: 2,
      branches: 2,
      seed: 204,
    });
    await provisionWithoutSubmitting(batchId);
    const [stale] = await claimPayments(t.db.pool, 1, 60_000, 'slow-worker');
    // The slow worker stalls; its lease expires and another worker takes the payment through.
    await t.db.pool.query(
      "UPDATE payments SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
      [stale!.id],
    );
    const w2 = startWorker(t, m);
    await waitFor('all settled', async () => settled(await statusCounts(batchId)));
    await w2.stop();
    const before = (
      await t.db.pool.query('SELECT status, version, method_payment_id FROM payments WHERE id = $1', [
        stale!.id,
      ])
    ).rows[0];
    expect(before.status).toBe('submitted');
    // Now the stale worker wakes up and records what it thinks happened.
    const late = await withTransaction(t.db.pool, (tx) =>
      transitionPayment(tx, stale!, {
        to: 'failed',
        cause: 'worker',
        leaseToken: stale!.lease_token,
        set: { failure_code: 'STALE' },
      }),
    );
    expect(late).toBeNull();
    const sub = new Submitter({
      pool: t.db.pool,
      client: m.client,
      leaseMs: 60_000,
      retryBudget: 3,
      log: () => {},
    });
    await sub.process(stale!);
    const after = (
      await t.db.pool.query('SELECT status, version, method_payment_id FROM payments WHERE id = $1', [
        stale!.id,
      ])
    ).rows[0];
    expect(after).toEqual(before);
    await expectOnePaymentPerRow(batchId);
    await expectBooksConsistent(t, batchId);
    void pino;
  });

  it('retries exhausted → needs review; a person retries and it goes through with the same row', async () => {
    const { batchId } = await uploadAndApprove(t, {
      rows: 12,
      employees: 4,
      sources: 1,
      branches: 1,
      seed: 205,
      unpayablePlaidShare: false,
    });
    await m.setFaults({ errorRate: 1 });
    const w = startWorker(t, m, { retryBudget: 2 });
    await waitFor(
      'needs review',
      async () => ((await statusCounts(batchId)).needs_review ?? 0) === 12,
      60_000,
    );
    await m.clearFaults();
    const list = (
      await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}/payments?status=needs_review` })
    ).json().items;
    expect(list[0].reviewReason).toMatch(/Method/);
    for (const p of list) {
      const r = await t.as('operator', { method: 'POST', url: `/api/payments/${p.id}/retry` });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json().payment.status).toBe('retry_scheduled');
    }
    await waitFor(
      'submitted',
      async () => {
        const c = await statusCounts(batchId);
        if (process.env.DEBUG_TEST) console.log(c);
        return (c.submitted ?? 0) === 12;
      },
      30_000,
      1000,
    );
    await w.stop();
    const again = await t.as('operator', { method: 'POST', url: `/api/payments/${list[0].id}/retry` });
    expect(again.statusCode).toBe(409);
    const audit = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM audit_log WHERE action = 'payment.retry'",
    );
    expect(audit.rows[0].n).toBe(12);
    await expectOnePaymentPerRow(batchId);
    await expectBooksConsistent(t, batchId);
  }, 120_000);

  it('a Method outage during review leaves the draft usable, the check marked failed, then retried to complete', async () => {
    // Plaid ids nobody asked about yet, so the cache cannot answer.
    await t.db.pool.query('DELETE FROM plaid_merchants');
    await m.setFaults({ errorRate: 1 });
    const { xml } = generateToString({ rows: 40, employees: 10, sources: 2, branches: 2, seed: 207 });
    const up = await t.as('operator', {
      method: 'POST',
      url: '/api/batches',
      headers: { 'content-type': 'application/xml' },
      payload: xml,
    });
    expect(up.statusCode).toBe(201);
    const id = up.json().batch.id;
    await waitFor(
      'check failed',
      async () =>
        (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json().summary.preflight
          .status === 'failed',
    );
    const early = await t.as('approver', { method: 'POST', url: `/api/batches/${id}/approve` });
    expect(early.json().error.code).toBe('PREFLIGHT_INCOMPLETE');
    expect(
      (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}/payments?limit=5` })).json().items,
    ).toHaveLength(5);
    await m.clearFaults();
    const w = startWorker(t, m);
    const b = await waitFor('check complete', async () => {
      const b = (await t.as('auditor', { method: 'GET', url: `/api/batches/${id}` })).json();
      return b.summary.preflight.status === 'complete' ? b : null;
    });
    await w.stop();
    expect(b.summary.unpayable.byPlaidId.map((x: { plaidId: string }) => x.plaidId)).toEqual(['ins_116527']);
  }, 60_000);

  it('cancel racing submission: each row either cancelled before Method saw it, or at Method — never both, never neither', async () => {
    const w = startWorker(t, m);
    const { batchId } = await uploadAndApprove(t, {
      rows: 300,
      employees: 60,
      sources: 5,
      branches: 5,
      seed: 206,
    });
    await waitFor(
      'some submitted',
      async () => ((await statusCounts(batchId)).submitted ?? 0) > 0,
      30_000,
      5,
    );
    const r = await t.as('approver', {
      method: 'POST',
      url: `/api/batches/${batchId}/cancel`,
      payload: { reason: 'wrong file' },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().batch.status).toBe('cancelling');
    // Those Method still holds as pending are cancelled there too; then the batch is cancelled.
    await waitFor(
      'batch cancelled',
      async () =>
        (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json().status ===
        'cancelled',
      30_000,
    );
    await w.stop();
    const c = await statusCounts(batchId);
    expect(c).toEqual({ cancelled: 300 });
    const atMethod = await m.paymentsByLoanPayId();
    const { rows } = await t.db.pool.query('SELECT id, method_payment_id FROM payments WHERE batch_id = $1', [
      batchId,
    ]);
    let cancelledAtMethod = 0;
    for (const p of rows) {
      const held = atMethod.get(p.id) ?? [];
      expect(held.filter((x) => x.status !== 'canceled')).toHaveLength(0);
      if (held.length) {
        expect(held).toHaveLength(1);
        expect(held[0]!.id).toBe(p.method_payment_id);
        cancelledAtMethod++;
      }
    }
    expect(cancelledAtMethod).toBeGreaterThan(0);
    expect(
      (
        await t.as('approver', {
          method: 'POST',
          url: `/api/batches/${batchId}/cancel`,
          payload: { reason: 'again' },
        })
      ).statusCode,
    ).toBe(409);
    await expectBooksConsistent(t, batchId);
  }, 60_000);
});
