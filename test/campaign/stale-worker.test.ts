// Invariant 6 of reliability.md (fault 11), the interleaving the status guard alone cannot stop: a
// worker stalls mid-call, its lease expires, the sweeper hands the row on and another worker claims
// it — so the row is `submitting` again, as the stale worker last saw it. Only the lease tells the
// two apart: the stale worker's late writes must change nothing, and the row is paid once.
import { beforeAll, describe, expect, it } from 'vitest';
import { withTransaction } from '../../src/server/db.js';
import { claimPayments, Submitter } from '../../src/server/execution/submitter.js';
import { sweepExpiredLeases } from '../../src/server/execution/sweeper.js';
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
  m = await startTestMethod();
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

const row = async (id: string) =>
  (
    await t.db.pool.query(
      'SELECT status, version, lease_token, method_payment_id FROM payments WHERE id = $1',
      [id],
    )
  ).rows[0];

describe('fault 11: a stale worker while another holds the row', () => {
  it('its late update names the same status but an old lease: it changes nothing; the row is paid once', async () => {
    // A first batch, run by a worker, puts the person's Method objects in place; the second batch
    // (same person, another amount) then has one row ready to claim by hand.
    const gen = { rows: 1, employees: 1, sources: 1, branches: 1, seed: 1101, unpayablePlaidShare: false };
    const w = startWorker(t, m);
    const first = await uploadAndApprove(t, gen);
    await waitFor(
      'first batch submitted',
      async () => (await row(await onlyPayment(first.batchId))).status === 'submitted',
    );
    await w.stop();
    const { batchId } = await uploadAndApprove(t, { ...gen, amountRange: [1100, 1999] });

    const [stale] = await claimPayments(t.db.pool, 1, 60_000, 'slow-worker');
    expect(stale?.batch_id).toBe(batchId);
    // The slow worker stalls past its lease; the sweeper moves the row to unknown, a fresh worker claims it.
    await t.db.pool.query(
      "UPDATE payments SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
      [stale!.id],
    );
    expect(await sweepExpiredLeases(t.db.pool)).toBe(1);
    const [fresh] = await claimPayments(t.db.pool, 1, 60_000, 'fresh-worker');
    expect(fresh?.id).toBe(stale!.id);
    expect(fresh!.status).toBe(stale!.status);
    expect(fresh!.lease_token).not.toBe(stale!.lease_token);
    const held = await row(stale!.id);

    // The stale worker wakes up: a status change naming the status it saw and its old lease…
    const late = await withTransaction(t.db.pool, (tx) =>
      transitionPayment(tx, stale!, {
        to: 'failed',
        cause: 'worker',
        leaseToken: stale!.lease_token,
        set: { failure_code: 'STALE' },
      }),
    );
    expect(late, 'invariant 6: a stale worker’s update was applied').toBeNull();
    // …and its whole call (Method accepts it under the attempt's key) are both refused.
    const submitter = new Submitter({ pool: t.db.pool, client: m.client, leaseMs: 60_000, retryBudget: 3 });
    await submitter.process(stale!);
    expect(await row(stale!.id), 'invariant 6: the stale worker changed the row').toEqual(held);

    // The worker holding the lease finishes: it finds the payment at Method, under the same key.
    await submitter.process(fresh!);
    const done = await row(stale!.id);
    expect(done.status).toBe('submitted');
    const atMethod = (await m.paymentsByLoanPayId()).get(stale!.id) ?? [];
    expect(atMethod.map((p) => p.id)).toEqual([done.method_payment_id]);
    const history = await t.db.pool.query(
      'SELECT from_status, to_status, actor FROM payment_events WHERE payment_id = $1 ORDER BY id',
      [stale!.id],
    );
    expect(history.rows.map((e) => `${e.from_status}→${e.to_status}`)).toEqual([
      'null→queued',
      'queued→submitting',
      'submitting→unknown',
      'unknown→submitting',
      'submitting→submitted',
    ]);
    await expectBooksConsistent(t, batchId);
  });
});

async function onlyPayment(batchId: string): Promise<string> {
  const { rows } = await t.db.pool.query('SELECT id FROM payments WHERE batch_id = $1', [batchId]);
  expect(rows).toHaveLength(1);
  return rows[0].id;
}
