// Fault 10 of reliability.md, step by step (the simulator moves only when told): a paid payment
// the servicer refuses comes back as `returned` with reversing ledger entries; `reversal_required`
// puts a paid payment in needs_review (batch back to executing) until an approver approves the
// reversal, then `settled` → paid and `reversed` → returned. Webhooks arrive over real HTTP.
import { beforeAll, describe, expect, it } from 'vitest';
import { pollMethodStatuses } from '../../src/server/tracking/poller.js';
import { reversalApprovalKey } from '../../src/server/tracking/reversals.js';
import { ensureWebhooks } from '../../src/server/webhooks/registration.js';
import { WebhookProcessor } from '../../src/server/webhooks/webhooks.processor.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  startTestMethod,
  startWorker,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';
import { expectLedgerBalanced, WEBHOOK_SECRET } from './support.js';

let t: TestApp;
let m: TestMethod;
let batchId: string;
let rows: {
  id: string;
  method_payment_id: string;
  amount_cents: number;
  source_id: string;
  loan_id: string;
}[];

beforeAll(async () => {
  m = await startTestMethod();
  t = await createTestApp(
    { METHOD_PAYMENTS_PER_MINUTE: '0', METHOD_WEBHOOK_SECRET: WEBHOOK_SECRET },
    { methodClient: m.client },
  );
  startWorker(t, m, { tracking: false });
  ({ batchId } = await uploadAndApprove(t, {
    rows: 4,
    employees: 4,
    sources: 1,
    branches: 1,
    seed: 621,
    unpayablePlaidShare: false,
  }));
  await waitFor('all submitted', async () => {
    const r = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'submitted'",
      [batchId],
    );
    return r.rows[0].n === 4;
  });
  rows = (
    await t.db.pool.query(
      'SELECT id, method_payment_id, amount_cents, source_id, loan_id::text FROM payments WHERE batch_id = $1 ORDER BY row_number',
      [batchId],
    )
  ).rows;
});

const simulate = async (i: number, status: string, errorCode?: number) => {
  const r = await m.client.simulatePaymentStatus(rows[i].method_payment_id, {
    status,
    ...(errorCode ? { error_code: errorCode } : {}),
  } as never);
  expect(r.kind, JSON.stringify(r)).toBe('ok');
};
const payment = async (i: number) =>
  (await t.as('auditor', { method: 'GET', url: `/api/payments/${rows[i].id}` })).json();
const batch = async () => (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json();
// Per account, from the payment's own view: its postings plus its share of the batch reservation.
const balances = async (i: number) => {
  const sums: Record<string, number> = {};
  for (const e of (await payment(i)).ledgerEntries as { account: string; amountCents: number }[]) {
    const kind = e.account.split(':')[0] as string;
    sums[kind] = (sums[kind] ?? 0) + e.amountCents;
  }
  return sums;
};
const processor = () => new WebhookProcessor({ pool: t.db.pool, client: m.client });
async function deliverAndProcess(events: number) {
  // Method marks a delivery done once we answered 200, i.e. once it is stored here.
  await waitFor(`${events} webhook events stored`, async () => {
    const sim = await m.simPool.query(
      "SELECT count(*)::int AS n FROM sim_webhook_deliveries WHERE status = 'pending'",
    );
    const ours = await t.db.pool.query(
      "SELECT count(*)::int AS n FROM webhook_events WHERE state = 'pending'",
    );
    return sim.rows[0].n === 0 && ours.rows[0].n >= events;
  });
  while ((await processor().processDue()) > 0) {}
}

describe('fault 10: returns and reversals after paid', () => {
  it('all four get paid (by polling): the batch is completed', async () => {
    for (const i of [0, 1, 2, 3]) {
      await simulate(i, 'processing');
      await simulate(i, 'sent');
    }
    const r = await pollMethodStatuses(t.db.pool, m.client, { staleMs: 0 });
    expect(r).toEqual({ checked: 4, applied: 4, errors: 0 });
    const b = await batch();
    expect(b.status).toBe('completed');
    expect(b.counts).toMatchObject({ paid: 4, pending: 0 });
    for (const i of [0, 1, 2, 3]) {
      expect(await balances(i)).toEqual({
        clearing: 0,
        loan: rows[i].amount_cents,
        source: -rows[i].amount_cents,
      });
    }
    await expectLedgerBalanced(t);
  });

  it('then Method reports a return and two reversals (webhooks over HTTP): returned, needs_review, batch executing', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const a = t.app.server.address();
    const url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/webhooks/method`;
    const reg = await ensureWebhooks(t.db.pool, m.client, { url, secret: WEBHOOK_SECRET });
    expect(reg.created).toHaveLength(4);
    await simulate(3, 'posted');
    await simulate(0, 'failed', 10009); // the loan servicer refuses it after it was sent
    await simulate(1, 'reversal_required', 10001); // the source pull failed after the loan was credited
    await simulate(2, 'reversal_required', 10001);
    // payment.update ×4 and payment_reversal.create ×2.
    await deliverAndProcess(6);
    const [p0, p1, p2, p3] = await Promise.all([0, 1, 2, 3].map(payment));
    expect(p0).toMatchObject({
      status: 'returned',
      methodStatus: 'failed',
      failureCode: 'PAYMENT_REJECTED_BY_DESTINATION_INSTITUTION',
    });
    expect(p1).toMatchObject({ status: 'needs_review', methodStatus: 'reversal_required' });
    expect(p1.reviewReason).toContain('reversal_required');
    expect(p1.reviewReason).toContain('PAYMENT_INSUFFICIENT_FUNDS');
    expect(p2).toMatchObject({ status: 'needs_review', methodStatus: 'reversal_required' });
    expect(p3).toMatchObject({ status: 'paid', methodStatus: 'posted' });
    // The return reverses the loan credit back to the source; the reversals put the money in question.
    expect(await balances(0)).toEqual({ clearing: 0, loan: 0, source: 0 });
    expect(p0.ledgerEntries.filter((e: { kind: string }) => e.kind === 'return')).toEqual([
      expect.objectContaining({ account: `loan:${rows[0].loan_id}`, amountCents: -rows[0].amount_cents }),
      expect.objectContaining({ account: `source:${rows[0].source_id}`, amountCents: rows[0].amount_cents }),
    ]);
    expect(await balances(1)).toEqual({
      clearing: rows[1].amount_cents,
      loan: 0,
      source: -rows[1].amount_cents,
    });
    const b = await batch();
    expect(b.status).toBe('executing');
    expect(b.counts).toEqual({ pending: 2, paid: 1, failed: 0, returned: 1, cancelled: 0 });
    expect(b.amountsCents.returned).toBe(rows[0].amount_cents);
    const src = (await t.as('auditor', { method: 'GET', url: `/api/sources/${rows[0].source_id}` })).json();
    expect(src.wallet.paidCents).toBe(rows[3].amount_cents);
    expect(src.wallet.returnedCents).toBe(rows[0].amount_cents);
    await expectLedgerBalanced(t);
  });

  it('approve-reversal: only approvers, only for reversal_required, once; audited', async () => {
    const url = (i: number) => `/api/payments/${rows[i].id}/approve-reversal`;
    expect((await t.as('auditor', { method: 'POST', url: url(1) })).statusCode).toBe(403);
    expect((await t.as('operator', { method: 'POST', url: url(1) })).statusCode).toBe(403);
    const wrong = await t.as('approver', { method: 'POST', url: url(3) });
    expect(wrong.statusCode).toBe(409);
    expect(wrong.json().error.code).toBe('INVALID_STATE');
    const ok = await t.as('approver', { method: 'POST', url: url(1) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().payment).toMatchObject({
      status: 'processing',
      methodStatus: 'reversal_processing',
      reviewReason: null,
    });
    const twice = await t.as('approver', { method: 'POST', url: url(1) });
    expect(twice.statusCode).toBe(409);
    // Method stores a 500 under its key and replays it for good: plant one on the first two keys of
    // row 2's approval (as if two clicks had met a 5xx). The approval must still go through, with a
    // third key, and only once Method shows the reversal still waiting.
    const listed = await m.client.listReversals(rows[2].method_payment_id);
    if (listed.kind !== 'ok') throw new Error(JSON.stringify(listed));
    const rvs = listed.data.items.find((r) => r.status === 'pending_approval')!;
    await m.setFaults({ errorRate: 1 });
    for (const attempt of [1, 2]) {
      const r = await m.client.approveReversal(rows[2].method_payment_id, rvs.id, {
        idempotencyKey: reversalApprovalKey(rows[2].id, rvs.id, attempt),
      });
      expect(r).toMatchObject({ kind: 'retryable', reason: 'server_error' });
    }
    await m.clearFaults();
    const replay = await m.client.approveReversal(rows[2].method_payment_id, rvs.id, {
      idempotencyKey: reversalApprovalKey(rows[2].id, rvs.id, 1),
    });
    expect(replay).toMatchObject({ kind: 'retryable', replayedFailure: true });
    const third = await t.as('admin', { method: 'POST', url: url(2) });
    expect(third.statusCode, third.body).toBe(200);
    const keys = await m.simPool.query(
      'SELECT status_code FROM sim_idempotency_keys WHERE key = ANY ($1) ORDER BY status_code',
      [[1, 2, 3, 4].map((n) => reversalApprovalKey(rows[2].id, rvs.id, n))],
    );
    expect(keys.rows.map((r) => r.status_code)).toEqual([200, 500, 500]);
    const sim = await m.simPool.query('SELECT id, status FROM sim_payments WHERE id = ANY ($1) ORDER BY id', [
      [rows[1].method_payment_id, rows[2].method_payment_id],
    ]);
    expect(sim.rows.map((r) => r.status)).toEqual(['reversal_processing', 'reversal_processing']);
    const rv = await m.simPool.query('SELECT status FROM sim_reversals WHERE pmt_id = $1', [
      rows[1].method_payment_id,
    ]);
    expect(rv.rows).toEqual([{ status: 'pending' }]);
    const audit = await t.db.pool.query(
      "SELECT username, entity_id FROM audit_log WHERE action = 'payment.approve_reversal' ORDER BY id",
    );
    expect(audit.rows).toEqual([
      { username: 'approver', entity_id: rows[1].id },
      { username: 'admin', entity_id: rows[2].id },
    ]);
  });

  it('then settled → paid and reversed → returned; the batch ends completed_with_exceptions, books balanced', async () => {
    await simulate(1, 'settled');
    await simulate(2, 'reversed');
    // Events of the approvals (reversal_processing) arrived too; processing them changes nothing.
    await deliverAndProcess(4);
    const [p1, p2] = await Promise.all([1, 2].map(payment));
    expect(p1).toMatchObject({ status: 'paid', methodStatus: 'settled' });
    expect(p2).toMatchObject({ status: 'returned', methodStatus: 'reversed' });
    expect(await balances(1)).toEqual({
      clearing: 0,
      loan: rows[1].amount_cents,
      source: -rows[1].amount_cents,
    });
    expect(await balances(2)).toEqual({ clearing: 0, loan: 0, source: 0 });
    expect(
      p1.history.map(
        (h: { toStatus: string; cause: string; methodStatus: string | null; actor: string | null }) => [
          h.toStatus,
          h.cause,
          h.methodStatus,
        ],
      ),
    ).toEqual([
      ['queued', 'approval', null],
      ['submitting', 'worker', null],
      ['submitted', 'worker', 'pending'],
      ['paid', 'reconciler', 'sent'],
      ['needs_review', 'webhook', 'reversal_required'],
      ['processing', 'person', 'reversal_processing'],
      ['paid', 'webhook', 'settled'],
    ]);
    expect(p1.history[5].actor).toBe('approver');
    expect(p1.ledgerEntries.map((e: { kind: string }) => e.kind)).toEqual([
      'reserve',
      'reserve',
      'pay',
      'pay',
      'unpay',
      'unpay',
      'pay',
      'pay',
    ]);
    const b = await batch();
    expect(b.status).toBe('completed_with_exceptions');
    expect(b.counts).toEqual({ pending: 0, paid: 2, failed: 0, returned: 2, cancelled: 0 });
    expect(b.amountsCents.paid).toBe(rows[1].amount_cents + rows[3].amount_cents);
    expect(b.amountsCents.returned).toBe(rows[0].amount_cents + rows[2].amount_cents);
    const src = (await t.as('auditor', { method: 'GET', url: `/api/sources/${rows[0].source_id}` })).json();
    expect(src.wallet).toMatchObject({
      paidCents: rows[1].amount_cents + rows[3].amount_cents,
      pendingCents: 0,
      returnedCents: rows[0].amount_cents + rows[2].amount_cents,
    });
    await expectLedgerBalanced(t);
    // Nothing left for the poller: every payment is final at Method.
    expect(await pollMethodStatuses(t.db.pool, m.client, { staleMs: 0 })).toEqual({
      checked: 0,
      applied: 0,
      errors: 0,
    });
  });
});
