// Fault 9 of reliability.md, no-webhook side: Method's deliveries are all dropped, yet the polling
// reconciler (in the worker) ends every payment in Method's status, with cause `reconciler`.
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureWebhooks } from '../../src/server/webhooks/registration.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  expectBooksConsistent,
  startTestMethod,
  startWorker,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';
import { compareWithMethod, expectLedgerBalanced, startRelay, WEBHOOK_SECRET } from './support.js';

let t: TestApp;
let m: TestMethod;

beforeAll(async () => {
  m = await startTestMethod({
    stepMs: 20,
    faults: { failPaymentRate: 0.2, returnRate: 0.25, webhookDropRate: 1 },
  });
  t = await createTestApp(
    { METHOD_PAYMENTS_PER_MINUTE: '0', METHOD_WEBHOOK_SECRET: WEBHOOK_SECRET },
    { methodClient: m.client },
  );
});

describe('fault 9: webhooks never delivered', () => {
  it('the poller ends every payment in what Method says; books consistent', async () => {
    const relay = await startRelay();
    await ensureWebhooks(t.db.pool, m.client, { url: relay.url, secret: WEBHOOK_SECRET });
    startWorker(t, m, { tracking: { pollEveryMs: 50, pollStaleMs: 0, reconcileHourUtc: null } });
    const { batchId } = await uploadAndApprove(t, {
      rows: 40,
      employees: 15,
      sources: 2,
      branches: 3,
      seed: 611,
      unpayablePlaidShare: false,
    });
    await waitFor(
      'every payment final here and at Method',
      async () => {
        const cmp = await compareWithMethod(t, m, batchId);
        return (
          cmp.length === 40 &&
          cmp.every((c) => c.status === c.expected && ['paid', 'failed', 'returned'].includes(c.status))
        );
      },
      30_000,
    );
    expect(relay.deliveries).toEqual([]);
    expect((await t.db.pool.query('SELECT count(*)::int AS n FROM webhook_events')).rows[0].n).toBe(0);
    const dropped = await m.simPool.query(
      "SELECT count(*)::int AS n FROM sim_webhook_deliveries WHERE status = 'dropped'",
    );
    expect(dropped.rows[0].n).toBeGreaterThan(0);
    const cmp = await compareWithMethod(t, m, batchId);
    const n = (s: string) => cmp.filter((c) => c.status === s).length;
    expect(n('failed')).toBeGreaterThan(0);
    expect(n('returned')).toBeGreaterThan(0);
    // Every change after submission came from polling, naming the Method status it saw.
    const causes = await t.db.pool.query(
      `SELECT e.cause, count(*)::int AS n, count(*) FILTER (WHERE e.method_status IS NULL)::int AS without_status
         FROM payment_events e JOIN payments p ON p.id = e.payment_id
        WHERE p.batch_id = $1 AND e.from_status IN ('submitted', 'processing', 'paid') GROUP BY 1`,
      [batchId],
    );
    expect(causes.rows).toEqual([{ cause: 'reconciler', n: expect.any(Number), without_status: 0 }]);
    await waitFor('batch final', async () => {
      const b = (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json();
      return b.status === 'completed_with_exceptions' ? b : null;
    });
    const b = (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json();
    expect(b.counts).toEqual({
      pending: 0,
      paid: n('paid'),
      failed: n('failed'),
      returned: n('returned'),
      cancelled: 0,
    });
    await expectLedgerBalanced(t);
    await expectBooksConsistent(t, batchId);
  });
});
