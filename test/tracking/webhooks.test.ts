// Fault 9 of reliability.md, webhook side: forged deliveries refused and never stored; every
// delivery stored once per event and processed after the answer; each event delivered three times
// in a shuffled order still ends every payment in Method's status; webhooks registered once, and a
// webhook Method disabled is alerted and re-enabled.
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { signWebhook, webhookAuthorization } from '../../src/method/webhook-signature.js';
import { webhookCredentials } from '../../src/server/webhooks/credentials.js';
import { ensureWebhooks } from '../../src/server/webhooks/registration.js';
import { WebhookProcessor } from '../../src/server/webhooks/webhooks.processor.js';
import { createTestApp, type TestApp } from '../support/app.js';
import {
  expectBooksConsistent,
  startTestMethod,
  startWorker,
  type TestMethod,
  uploadAndApprove,
  waitFor,
} from '../support/method.js';
import {
  compareWithMethod,
  type Delivery,
  expectLedgerBalanced,
  shuffle,
  startRelay,
  WEBHOOK_SECRET,
} from './support.js';

let t: TestApp;
let m: TestMethod;
let relay: { url: string; deliveries: Delivery[] };
const creds = webhookCredentials(WEBHOOK_SECRET);

beforeAll(async () => {
  // Payments move on their own every 20 ms; a fifth fail before `sent`, a fifth come back after it.
  m = await startTestMethod({ stepMs: 20, faults: { failPaymentRate: 0.2, returnRate: 0.25 } });
  t = await createTestApp(
    { METHOD_PAYMENTS_PER_MINUTE: '0', METHOD_WEBHOOK_SECRET: WEBHOOK_SECRET },
    { methodClient: m.client },
  );
  relay = await startRelay();
});

const count = async (sql: string, args: unknown[] = []) =>
  (await t.db.pool.query(sql, args)).rows[0].n as number;

function signedHeaders(body: string, opts: { secret?: string; token?: string; ts?: number } = {}) {
  const ts = opts.ts ?? Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    authorization: webhookAuthorization(opts.token ?? creds.authToken),
    'method-webhook-timestamp': String(ts),
    'method-webhook-signature': signWebhook(opts.secret ?? creds.hmacSecret, ts, body),
  };
}

const post = (headers: Record<string, string>, body: string) =>
  t.app.inject({ method: 'POST', url: '/webhooks/method', headers, payload: body });

describe('webhook intake', () => {
  const body = JSON.stringify({
    webhook_id: 'whk_x',
    id: 'pmt_forged',
    type: 'payment.update',
    op: 'update',
    path: '/payments/pmt_forged',
    event: 'evt_forged',
  });

  it('refuses forged deliveries with 401 and stores nothing', async () => {
    const stale = Math.floor(Date.now() / 1000) - 3600;
    const cases: Record<string, string>[] = [
      signedHeaders(body, { secret: 'not-our-secret' }),
      signedHeaders(body, { token: 'not-our-token' }),
      { ...signedHeaders(body), 'method-webhook-signature': 'deadbeef' },
      { 'content-type': 'application/json', authorization: webhookAuthorization(creds.authToken) },
      signedHeaders(body, { ts: stale }),
      { 'content-type': 'application/json' },
    ];
    for (const headers of cases) {
      const r = await post(headers, body);
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe('INVALID_SIGNATURE');
    }
    // A signature over other bytes than the ones sent (re-serialised JSON, a changed field).
    const r = await post(signedHeaders(body), body.replace('pmt_forged', 'pmt_other'));
    expect(r.statusCode).toBe(401);
    expect(await count('SELECT count(*)::int AS n FROM webhook_events')).toBe(0);
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('loanpay_webhooks_received_total{outcome="refused"} 7');
  });

  it('stores a verified event once however often it comes, and answers fast', async () => {
    const started = Date.now();
    const answers = await Promise.all([1, 2, 3].map(() => post(signedHeaders(body), body)));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.json().duplicate).sort()).toEqual([false, true, true]);
    const { rows } = await t.db.pool.query(
      'SELECT event_id, resource_id, deliveries, state FROM webhook_events',
    );
    expect(rows).toEqual([
      { event_id: 'evt_forged', resource_id: 'pmt_forged', deliveries: 3, state: 'pending' },
    ]);
    // Processing later: Method does not know the payment → recorded, no payment touched.
    await new WebhookProcessor({ pool: t.db.pool, client: m.client }).processDue();
    const after = await t.db.pool.query('SELECT state, outcome FROM webhook_events');
    expect(after.rows).toEqual([{ state: 'done', outcome: 'method_404' }]);
    await t.db.pool.query("DELETE FROM webhook_events WHERE event_id = 'evt_forged'");
  });
});

describe('registration and the disabled-webhook alert', () => {
  it('registers one webhook per payment event type, idempotently', async () => {
    const first = await ensureWebhooks(t.db.pool, m.client, { url: relay.url, secret: WEBHOOK_SECRET });
    expect(first).toMatchObject({ ok: true, reenabled: [], removed: [] });
    expect(first.created).toHaveLength(4);
    const again = await ensureWebhooks(t.db.pool, m.client, { url: relay.url, secret: WEBHOOK_SECRET });
    expect(again).toEqual({ ok: true, created: [], reenabled: [], removed: [] });
    const { rows } = await m.simPool.query(
      "SELECT type, auth_token, hmac_secret FROM sim_webhooks WHERE status = 'active' ORDER BY type",
    );
    expect(rows).toEqual(
      ['payment.create', 'payment.update', 'payment_reversal.create', 'payment_reversal.update'].map(
        (type) => ({
          type,
          auth_token: creds.authToken,
          hmac_secret: WEBHOOK_SECRET,
        }),
      ),
    );
  });

  it('notices a webhook Method disabled, alerts (banner data + metric) and re-enables it', async () => {
    // What Method does after five failed deliveries.
    await m.simPool.query(
      `UPDATE sim_webhooks SET status = 'disabled', data = data || '{"status":"disabled","error":{"type":"WEBHOOK_FAILED","code":25003,"sub_type":"WEBHOOK_DISABLED_RECEIVED_5XX_ERROR","message":"disabled"}}'::jsonb
        WHERE type = 'payment.update'`,
    );
    const r = await ensureWebhooks(t.db.pool, m.client, { url: relay.url, secret: WEBHOOK_SECRET });
    expect(r.reenabled).toHaveLength(1);
    expect(
      (await m.simPool.query("SELECT status FROM sim_webhooks WHERE type = 'payment.update'")).rows,
    ).toEqual([{ status: 'active' }]);
    const alerts = (await t.as('auditor', { method: 'GET', url: '/api/system/alerts' })).json();
    expect(alerts.webhookDisabled).toBe(false);
    expect(alerts.webhookDisabledRecently).toBe(true);
    const hook = alerts.webhooks.find((w: { type: string }) => w.type === 'payment.update');
    expect(hook).toMatchObject({ status: 'active', reenableCount: 1, error: { code: 25003 } });
    expect(hook.lastDisabledAt).not.toBeNull();
    expect(hook.lastReenabledAt).not.toBeNull();
    const metrics = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('loanpay_method_webhook_reenables 1');
    expect(metrics).toContain('loanpay_method_webhooks_disabled 0');
    expect((await t.app.inject({ method: 'GET', url: '/api/system/alerts' })).statusCode).toBe(401);
  });
});

describe('fault 9: every delivery three times, shuffled', () => {
  it('ends every payment in what Method says, each event stored once, books consistent', async () => {
    const worker = startWorker(t, m, { tracking: false });
    const { batchId } = await uploadAndApprove(t, {
      rows: 40,
      employees: 15,
      sources: 3,
      branches: 4,
      seed: 601,
      unpayablePlaidShare: false,
    });
    const finalAtMethod = ['posted', 'failed', 'canceled', 'reversed', 'settled'];
    await waitFor(
      'every payment final at Method and every delivery made',
      async () => {
        const sim = await m.simPool.query(
          `SELECT (SELECT count(*)::int FROM sim_payments WHERE status = ANY ($1)) AS final,
                  (SELECT count(*)::int FROM sim_webhook_deliveries WHERE status = 'pending') AS pending`,
          [finalAtMethod],
        );
        return sim.rows[0].final === 40 && sim.rows[0].pending === 0;
      },
      30_000,
    );
    await worker.stop();
    const events = new Set(relay.deliveries.map((d) => JSON.parse(d.body).event));
    // Nothing reached LoanPay yet: all our payments still show what the worker saw at creation.
    expect(
      await count("SELECT count(*)::int AS n FROM payments WHERE batch_id = $1 AND status = 'submitted'", [
        batchId,
      ]),
    ).toBe(40);

    const replay = shuffle(
      relay.deliveries.flatMap((d) => [d, d, d]),
      9,
    );
    const pick = (h: Record<string, string>) => ({
      'content-type': h['content-type'],
      authorization: h.authorization,
      'method-webhook-timestamp': h['method-webhook-timestamp'],
      'method-webhook-signature': h['method-webhook-signature'],
    });
    for (let i = 0; i < replay.length; i += 20) {
      const answers = await Promise.all(replay.slice(i, i + 20).map((d) => post(pick(d.headers), d.body)));
      expect(answers.every((a) => a.statusCode === 200)).toBe(true);
    }
    expect(await count('SELECT count(*)::int AS n FROM webhook_events')).toBe(events.size);
    expect(await count('SELECT count(*)::int AS n FROM webhook_events WHERE deliveries <> 3')).toBe(0);

    const processor = new WebhookProcessor({
      pool: t.db.pool,
      client: m.client,
      log: (o, msg) => pino().warn(o, msg),
    });
    while ((await processor.processDue()) > 0) {}
    expect(await count("SELECT count(*)::int AS n FROM webhook_events WHERE state <> 'done'")).toBe(0);

    const cmp = await compareWithMethod(t, m, batchId);
    expect(cmp.filter((c) => c.status !== c.expected)).toEqual([]);
    expect(cmp.filter((c) => c.methodStatus !== c.atMethod)).toEqual([]);
    const byStatus = (s: string) => cmp.filter((c) => c.status === s).length;
    expect(byStatus('paid') + byStatus('failed') + byStatus('returned')).toBe(40);
    expect(byStatus('failed')).toBeGreaterThan(0);
    expect(byStatus('returned')).toBeGreaterThan(0);
    // A status change is recorded once, with its cause and the Method status seen.
    expect(
      await count(
        `SELECT count(*)::int AS n FROM payment_events e JOIN payments p ON p.id = e.payment_id
          WHERE p.batch_id = $1 AND e.cause = 'webhook'`,
        [batchId],
      ),
    ).toBe(40);
    expect(
      await count(
        `SELECT count(*)::int AS n FROM payment_events e JOIN payments p ON p.id = e.payment_id
          WHERE p.batch_id = $1 AND e.cause = 'webhook' AND e.method_status IS NULL`,
        [batchId],
      ),
    ).toBe(0);
    // Replaying everything again changes nothing.
    await t.db.pool.query("UPDATE webhook_events SET state = 'pending', next_attempt_at = now()");
    while ((await processor.processDue()) > 0) {}
    expect(
      await count(
        `SELECT count(*)::int AS n FROM payment_events e JOIN payments p ON p.id = e.payment_id WHERE p.batch_id = $1 AND e.cause = 'webhook'`,
        [batchId],
      ),
    ).toBe(40);
    const batch = (await t.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json();
    expect(batch.status).toBe('completed_with_exceptions');
    expect(batch.counts).toEqual({
      pending: 0,
      paid: byStatus('paid'),
      failed: byStatus('failed'),
      returned: byStatus('returned'),
      cancelled: 0,
    });
    await expectLedgerBalanced(t);
    await expectBooksConsistent(t, batchId);
  });
});
