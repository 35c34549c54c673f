// A payment Method failed (before sending) is retried by a person: the worker makes a NEW attempt
// with a new key — replaying the old key would only replay the old, failed payment — and it pays.
import { beforeAll, expect, it } from 'vitest';
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
  m = await startTestMethod({ stepMs: 100, faults: { failPaymentRate: 1 } });
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

it('retrying a payment Method failed makes a new attempt and pays the row once', async () => {
  startWorker(t, m, { tracking: { pollEveryMs: 100, pollStaleMs: 200, reconcileHourUtc: null } });
  const { batchId } = await uploadAndApprove(t, {
    rows: 3,
    employees: 3,
    sources: 1,
    branches: 1,
    seed: 5,
    unpayablePlaidShare: false,
  });
  const failedCount = async () =>
    (
      await t.db.pool.query(
        "SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'failed'",
        [batchId],
      )
    ).rows[0].n;
  await waitFor('all failed at Method', async () => (await failedCount()) === 3, 30_000);
  await m.clearFaults();
  const id = (
    await t.db.pool.query('SELECT id FROM payments WHERE batch_id = $1 ORDER BY row_number LIMIT 1', [
      batchId,
    ])
  ).rows[0].id;
  const r = await t.as('operator', { method: 'POST', url: `/api/payments/${id}/retry` });
  expect(r.statusCode, r.body).toBe(200);
  await waitFor(
    'paid',
    async () =>
      (await t.db.pool.query('SELECT status FROM payments WHERE id = $1', [id])).rows[0].status === 'paid',
    30_000,
  );
  const attempts = await t.db.pool.query(
    'SELECT attempt_no, state FROM payment_attempts WHERE payment_id = $1 ORDER BY attempt_no',
    [id],
  );
  expect(attempts.rows).toEqual([
    { attempt_no: 1, state: 'failed' },
    { attempt_no: 2, state: 'accepted' },
  ]);
  // LoanPay calls a payment paid at Method's `sent`; the simulator moves it on to `posted` a step
  // later, so under load the read below could land between the two: wait for Method's last step.
  let atMethod: { status: string }[] = [];
  await waitFor(
    'Method at its final statuses',
    async () => {
      atMethod = (await m.paymentsByLoanPayId()).get(id)!;
      return atMethod.every((x) => x.status === 'failed' || x.status === 'posted');
    },
    30_000,
  );
  expect(atMethod.map((x) => x.status).sort()).toEqual(['failed', 'posted'].sort());
  const history = (await t.as('auditor', { method: 'GET', url: `/api/payments/${id}` }))
    .json()
    .history.map((h: { toStatus: string }) => h.toStatus);
  expect(history.slice(history.indexOf('failed'))).toEqual([
    'failed',
    'retry_scheduled',
    'submitting',
    'submitted',
    ...history.slice(history.lastIndexOf('submitted') + 1),
  ]);
  expect(history.at(-1)).toBe('paid');
  await expectBooksConsistent(t, batchId);
}, 90_000);
