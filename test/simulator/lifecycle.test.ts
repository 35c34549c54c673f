// Payments move on their own through Method's statuses to a final one, per the fate the faults
// gave them, and every change is sent once to each registered webhook (or twice / never on request).
import { describe, expect, it } from 'vitest';
import { mapMethodPaymentStatus, newIdempotencyKey } from '../../src/method/client.js';
import { checkSimulatedTransition, nextAutomaticStep } from '../../src/simulator/lifecycle.js';
import { createPayable, eventually, expectOk, startReceiver, startTestSimulator } from './support.js';

describe('the automatic step function', () => {
  it.each([
    ['pending', 'post', 'liability', 'processing'],
    ['processing', 'post', 'liability', 'sent'],
    ['processing', 'fail', 'liability', 'failed:10001'],
    ['sent', 'post', 'liability', 'posted'],
    ['sent', 'return', 'liability', 'failed:10009'],
    ['sent', 'reverse', 'liability', 'reversal_required:10001'],
    ['reversal_processing', 'reverse', 'liability', 'settled'],
    ['reversal_processing', 'reverse', 'ach', 'reversed'],
    ['reversal_required', 'reverse', 'liability', null],
    ['posted', 'post', 'liability', null],
    ['canceled', 'post', 'liability', null],
  ] as const)('%s (%s, %s destination) → %s', (status, fate, destinationType, expected) => {
    const step = nextAutomaticStep({ status, fate, destinationType });
    expect(step ? [step.status, step.errorCode].filter(Boolean).join(':') : null).toBe(expected);
  });

  it('refuses simulated transitions Method does not allow', () => {
    expect(() => checkSimulatedTransition('pending', 'sent', undefined)).toThrow(/cannot be simulated/);
    expect(() => checkSimulatedTransition('processing', 'failed', undefined)).toThrow(/error_code/);
    expect(checkSimulatedTransition('processing', 'failed', 10003)).toEqual({
      status: 'failed',
      errorCode: 10003,
    });
  });
});

describe('the timer-driven lifecycle with webhooks', async () => {
  const t = await startTestSimulator({ stepMs: 40 });
  const { client } = t;
  const receiver = await startReceiver({ authToken: 'tok', hmacSecret: 'sec' });
  for (const type of ['payment.create', 'payment.update', 'payment_reversal.create']) {
    expectOk(
      await client.createWebhook(
        { type, url: `${receiver.url}/hooks`, auth_token: 'tok', hmac_secret: 'sec' },
        newIdempotencyKey(),
      ),
    );
  }
  const setup = await createPayable(client);
  const create = async (faults: Record<string, number>) => {
    await t.setFaults(faults);
    const p = expectOk(
      await client.createPayment(
        { amount: 1187, source: setup.source.id, destination: setup.destination.id, description: 'LoanPay' },
        newIdempotencyKey(),
      ),
    );
    await t.clearFaults();
    return p.id;
  };
  const statusOf = async (id: string) => expectOk(await client.getPayment(id));
  const settle = (id: string, final: string[]) =>
    eventually(
      async () => {
        const p = await statusOf(id);
        return final.includes(p.status) ? p : undefined;
      },
      10_000,
      `${id} to reach ${final}`,
    );
  const outboxEmpty = () =>
    eventually(async () => {
      const r = await t.db.pool.query(
        "SELECT count(*)::int AS n FROM sim_webhook_deliveries WHERE status = 'pending'",
      );
      return r.rows[0].n === 0 ? true : undefined;
    });

  it('reaches a final status for each fate and sends one webhook per change', async () => {
    const posted = await create({});
    const failed = await create({ failPaymentRate: 1 });
    const returned = await create({ returnRate: 1 });
    const reversal = await create({ reversalRate: 1 });

    expect(await settle(posted, ['posted'])).toMatchObject({
      status: 'posted',
      error: null,
      fund_status: 'posted',
    });
    expect(await settle(failed, ['failed'])).toMatchObject({
      error: { code: 10001, sub_type: 'PAYMENT_INSUFFICIENT_FUNDS' },
    });
    expect(await settle(returned, ['failed'])).toMatchObject({
      error: { code: 10009, sub_type: 'PAYMENT_REJECTED_BY_DESTINATION_INSTITUTION' },
    });
    const required = await settle(reversal, ['reversal_required']);
    expect(required.reversal_id).toMatch(/^rvs_/);
    expect(mapMethodPaymentStatus('failed', { wasSent: false })).toBe('failed');
    expect(mapMethodPaymentStatus('failed', { wasSent: true })).toBe('returned');

    // A person approves the reversal; Method re-pulls from the source and the payment ends settled.
    const reversals = expectOk(await client.listReversals(reversal)).items;
    expect(reversals).toMatchObject([
      { id: required.reversal_id, status: 'pending_approval', amount: 1187, direction: 'debit' },
    ]);
    const approved = expectOk(await client.approveReversal(reversal, required.reversal_id as string));
    expect(approved.status).toBe('pending');
    expect(await client.approveReversal(reversal, required.reversal_id as string)).toMatchObject({
      kind: 'definite_failure',
      error: { subType: 'INVALID_REVERSAL_STATUS' },
    });
    await settle(reversal, ['settled']);
    await outboxEmpty();

    const types = (id: string) =>
      receiver.receipts
        .filter((r) => r.payload.id === id || r.payload.refs.payment === id)
        .map((r) => r.payload.type);
    const byPayment = (id: string) =>
      types(id).reduce<Record<string, number>>((acc, ty) => {
        acc[ty] = (acc[ty] ?? 0) + 1;
        return acc;
      }, {});
    expect(byPayment(posted)).toEqual({ 'payment.create': 1, 'payment.update': 3 });
    expect(byPayment(failed)).toEqual({ 'payment.create': 1, 'payment.update': 2 });
    expect(byPayment(returned)).toEqual({ 'payment.create': 1, 'payment.update': 3 });
    expect(byPayment(reversal)).toEqual({
      'payment.create': 1,
      'payment.update': 5,
      'payment_reversal.create': 1,
    });
    expect(receiver.receipts.every((r) => r.verified)).toBe(true);
    expect(new Set(receiver.receipts.map((r) => r.payload.event)).size).toBe(receiver.receipts.length);
    const sample = receiver.receipts.find(
      (r) => r.payload.id === posted && r.payload.type === 'payment.update',
    );
    expect(sample?.payload).toMatchObject({
      op: 'update',
      path: `/payments/${posted}`,
      refs: { entity: setup.employee.id },
    });
    expect(Object.keys(sample?.payload ?? {}).sort()).toEqual([
      'event',
      'id',
      'op',
      'path',
      'refs',
      'type',
      'webhook_id',
    ]);
    const event = expectOk(await client.getEvent(sample?.payload.event as string));
    expect(event).toMatchObject({ type: 'payment.update', resource_id: posted, resource_type: 'payment' });

    const stats = (await t.stats()) as { paymentsByStatus: Record<string, number> };
    expect(stats.paymentsByStatus).toEqual({ posted: 1, failed: 2, settled: 1 });
  });

  it('duplicates and drops deliveries when asked', async () => {
    await t.setFaults({ webhookDuplicateRate: 1 });
    const dup = await createWithoutReset();
    await settle(dup, ['posted']);
    await outboxEmpty();
    await t.setFaults({ webhookDropRate: 1 });
    const dropped = await createWithoutReset();
    await settle(dropped, ['posted']);
    await outboxEmpty();
    await t.clearFaults();
    const count = (id: string) => receiver.receipts.filter((r) => r.payload.id === id).length;
    expect(count(dup)).toBe(8);
    expect(count(dropped)).toBe(0);
    const r = await t.db.pool.query(
      "SELECT status, count(*)::int AS n FROM sim_webhook_deliveries WHERE payload->>'id' = $1 GROUP BY status",
      [dropped],
    );
    expect(r.rows).toEqual([{ status: 'dropped', n: 4 }]);
  });

  async function createWithoutReset(): Promise<string> {
    return expectOk(
      await client.createPayment(
        { amount: 1187, source: setup.source.id, destination: setup.destination.id, description: 'LoanPay' },
        newIdempotencyKey(),
      ),
    ).id;
  }
});

describe('webhook retries and auto-disable', async () => {
  const t = await startTestSimulator();
  const { client } = t;
  const receiver = await startReceiver({ authToken: 'tok', hmacSecret: 'sec' });
  const setup = await createPayable(client);

  it('retries a failing receiver 4 times, then disables the webhook; re-enabling delivers again', async () => {
    const hook = expectOk(
      await client.createWebhook(
        { type: 'payment.create', url: `${receiver.url}/fail`, auth_token: 'tok', hmac_secret: 'sec' },
        newIdempotencyKey(),
      ),
    );
    const pay = async () =>
      expectOk(
        await client.createPayment(
          { amount: 500, source: setup.source.id, destination: setup.destination.id, description: 'x' },
          newIdempotencyKey(),
        ),
      ).id;
    const first = await pay();
    const disabled = await eventually(async () => {
      const w = expectOk(await client.getWebhook(hook.id));
      return w.status === 'disabled' ? w : undefined;
    });
    expect(disabled.error).toMatchObject({ code: 25003, sub_type: 'WEBHOOK_DISABLED_RECEIVED_5XX_ERROR' });
    expect(receiver.receipts.filter((r) => r.payload.id === first)).toHaveLength(5);
    // While disabled nothing is queued for it.
    const second = await pay();
    receiver.failStatus = 200;
    expectOk(await client.updateWebhook(hook.id, { status: 'active' }));
    const third = await pay();
    await eventually(async () => (receiver.receipts.some((r) => r.payload.id === third) ? true : undefined));
    expect(receiver.receipts.filter((r) => r.payload.id === second)).toHaveLength(0);
    expect(expectOk(await client.getWebhook(hook.id))).toMatchObject({ status: 'active', error: null });
  });
});
