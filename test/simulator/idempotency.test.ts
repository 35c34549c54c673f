// Method's idempotency as the simulator keeps it: the first answer for a key — success, 4xx or
// 500 — is stored and replayed with `idem-status: replayed`; another body under the key → 422.
import { describe, expect, it } from 'vitest';
import { newIdempotencyKey } from '../../src/method/client.js';
import { createPayable, expectOk, startTestSimulator } from './support.js';

const t = await startTestSimulator();
const { client } = t;
const setup = await createPayable(client);
const body = (amount = 1187) => ({
  amount,
  source: setup.source.id,
  destination: setup.destination.id,
  description: 'LoanPay',
  metadata: { paymentId: `p-${amount}` },
});

async function paymentsTo(destination: string): Promise<number> {
  return expectOk(await client.listPayments({ destination, page_limit: 100 })).pagination.totalCount ?? -1;
}

describe('idempotent payment creation', () => {
  it('the same key twice gives one payment, the second answer replayed', async () => {
    const before = await paymentsTo(setup.destination.id);
    const key = newIdempotencyKey();
    const first = await client.createPayment(body(501), key);
    const second = await client.createPayment(body(501), key);
    expect(first).toMatchObject({ kind: 'ok', idemStatus: 'stored' });
    expect(second).toMatchObject({ kind: 'ok', idemStatus: 'replayed' });
    if (first.kind !== 'ok' || second.kind !== 'ok') return;
    expect(second.data).toEqual(first.data);
    expect(second.requestId).toBe(first.requestId);
    expect(await paymentsTo(setup.destination.id)).toBe(before + 1);
  });

  it('twenty concurrent requests with one key create one payment', async () => {
    const before = await paymentsTo(setup.destination.id);
    const key = newIdempotencyKey();
    const results = await Promise.all(Array.from({ length: 20 }, () => client.createPayment(body(502), key)));
    const ids = new Set(results.map((r) => (r.kind === 'ok' ? r.data.id : r.kind)));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.kind === 'ok' && r.idemStatus === 'stored')).toHaveLength(1);
    expect(await paymentsTo(setup.destination.id)).toBe(before + 1);
  });

  it('a stored 500 is replayed for the key, flagged replayedFailure, and created nothing', async () => {
    const before = await paymentsTo(setup.destination.id);
    const key = newIdempotencyKey();
    await t.setFaults({ errorRate: 1 });
    const first = await client.createPayment(body(503), key);
    await t.clearFaults();
    const second = await client.createPayment(body(503), key);
    expect(first).toMatchObject({ kind: 'retryable', status: 500, reason: 'server_error' });
    expect(first).not.toHaveProperty('replayedFailure');
    expect(second).toMatchObject({
      kind: 'retryable',
      status: 500,
      replayedFailure: true,
      error: { type: 'api_error', subType: 'INTERNAL_SERVER_ERROR' },
    });
    expect(await paymentsTo(setup.destination.id)).toBe(before);
    // The caller proves it absent and makes a new attempt with a new key.
    expect(await client.createPayment(body(503), newIdempotencyKey())).toMatchObject({
      kind: 'ok',
      idemStatus: 'stored',
    });
  });

  it('a stored validation error is replayed too', async () => {
    const key = newIdempotencyKey();
    const first = await client.createPayment({ ...body(), amount: 50 }, key);
    const second = await client.createPayment({ ...body(), amount: 50 }, key);
    expect(first).toMatchObject({
      kind: 'definite_failure',
      idemStatus: 'stored',
      error: { subType: 'INVALID_AMOUNT' },
    });
    expect(second).toMatchObject({
      kind: 'definite_failure',
      idemStatus: 'replayed',
      error: { subType: 'INVALID_AMOUNT' },
    });
  });

  it('the same key with a different body is refused with 422', async () => {
    const key = newIdempotencyKey();
    expectOk(await client.createPayment(body(504), key));
    const reused = await client.createPayment(body(505), key);
    expect(reused).toMatchObject({
      kind: 'definite_failure',
      status: 422,
      error: { subType: 'IDEMPOTENCY_KEY_REUSED' },
    });
  });

  it('a key older than 24 hours is forgotten', async () => {
    const key = newIdempotencyKey();
    const first = expectOk(await client.createPayment(body(506), key));
    await t.db.pool.query(
      `UPDATE sim_idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1`,
      [key],
    );
    const again = await client.createPayment(body(506), key);
    expect(again).toMatchObject({ kind: 'ok', idemStatus: 'stored' });
    if (again.kind === 'ok') expect(again.data.id).not.toBe(first.id);
  });

  it('a request without a key is bypassed', async () => {
    const res = await fetch(`${t.url}/payments`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_x', 'content-type': 'application/json' },
      body: JSON.stringify(body(507)),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('idem-status')).toBe('bypassed');
  });
});

describe('idempotent creation of other resources', () => {
  it('replays an entity creation and counts the replays in the stats', async () => {
    const before = (await t.stats()) as { entities: number; idempotentReplays: number };
    const key = newIdempotencyKey();
    const a = expectOk(
      await client.createEntity({ type: 'individual', individual: { first_name: 'A' } }, key),
    );
    const b = await client.createEntity({ type: 'individual', individual: { first_name: 'A' } }, key);
    expect(b).toMatchObject({ kind: 'ok', idemStatus: 'replayed', data: { id: a.id } });
    const after = (await t.stats()) as { entities: number; idempotentReplays: number };
    expect(after.entities).toBe(before.entities + 1);
    expect(after.idempotentReplays).toBe(before.idempotentReplays + 1);
  });

  it('a client refuses a key that is not a UUID rather than sending it', async () => {
    expect(() => client.createPayment(body(), 'not-a-uuid')).toThrow(TypeError);
  });
});
