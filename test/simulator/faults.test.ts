// Every fault kind of `PUT /simulator/faults` (api.md), seen through the client's classification:
// what the caller is told, and whether the simulator applied the request.
import { afterEach, describe, expect, it } from 'vitest';
import { MethodClient, newIdempotencyKey } from '../../src/method/client.js';
import { freePort } from '../../src/server/embedded-pg.js';
import { API_KEY, createPayable, expectOk, METHOD_VERSION, startTestSimulator } from './support.js';

const t = await startTestSimulator({ faults: { latencyMs: 0 } });
const { client } = t;
const setup = await createPayable(client);
let amount = 1000;
const body = () => ({
  amount: amount++,
  source: setup.source.id,
  destination: setup.destination.id,
  description: 'LoanPay',
});
const count = async () =>
  expectOk(await client.listPayments({ destination: setup.destination.id })).pagination.totalCount ?? -1;

afterEach(() => t.clearFaults());

describe('the faults endpoint', () => {
  it('merges, reads and clears faults, refusing bad values', async () => {
    const put = async (b: unknown) =>
      fetch(`${t.url}/simulator/faults`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(b),
      });
    expect(await (await put({ errorRate: 0.25 })).json()).toMatchObject({ errorRate: 0.25, timeoutRate: 0 });
    expect(await (await put({ latencyMs: 5 })).json()).toMatchObject({ errorRate: 0.25, latencyMs: 5 });
    expect(await (await fetch(`${t.url}/simulator/faults`)).json()).toMatchObject({
      errorRate: 0.25,
      latencyMs: 5,
    });
    const bad = await put({ errorRate: 2, nonsense: 1 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(await (await fetch(`${t.url}/simulator/faults`, { method: 'DELETE' })).json()).toMatchObject({
      errorRate: 0,
      latencyMs: 0,
    });
  });
});

describe('the client classifies every fault', () => {
  it('errorRate: retryable 500, nothing created', async () => {
    const before = await count();
    await t.setFaults({ errorRate: 1 });
    expect(await client.createPayment(body(), newIdempotencyKey())).toMatchObject({
      kind: 'retryable',
      status: 500,
      reason: 'server_error',
    });
    expect(await client.getPayment('pmt_x')).toMatchObject({ kind: 'retryable', status: 500 });
    await t.clearFaults();
    expect(await count()).toBe(before);
  });

  it('rateLimitRate: retryable 429 with the Retry-After hint, nothing created', async () => {
    const before = await count();
    await t.setFaults({ rateLimitRate: 1 });
    expect(await client.createPayment(body(), newIdempotencyKey())).toMatchObject({
      kind: 'retryable',
      status: 429,
      reason: 'rate_limited',
      retryAfterMs: 1000,
      error: { subType: 'TOO_MANY_REQUESTS' },
    });
    await t.clearFaults();
    expect(await count()).toBe(before);
  });

  it('idempotencyUnavailableRate: retryable 503 IDEMPOTENCY_UNAVAILABLE, nothing created', async () => {
    const before = await count();
    await t.setFaults({ idempotencyUnavailableRate: 1 });
    expect(await client.createPayment(body(), newIdempotencyKey())).toMatchObject({
      kind: 'retryable',
      status: 503,
      reason: 'idempotency_unavailable',
      error: { type: 'api_error', subType: 'IDEMPOTENCY_UNAVAILABLE' },
    });
    await t.clearFaults();
    expect(await count()).toBe(before);
  });

  it('timeoutRate: ambiguous timeout, yet the payment exists and the key replays it', async () => {
    const before = await count();
    await t.setFaults({ timeoutRate: 1, timeoutHoldMs: 3000 });
    const key = newIdempotencyKey();
    const b = body();
    const started = Date.now();
    expect(await client.createPayment(b, key, { timeoutMs: 300 })).toEqual({
      kind: 'ambiguous',
      reason: 'timeout',
    });
    expect(Date.now() - started).toBeLessThan(2500);
    await t.clearFaults();
    expect(await count()).toBe(before + 1);
    expect(await client.createPayment(b, key)).toMatchObject({
      kind: 'ok',
      idemStatus: 'replayed',
      data: { amount: b.amount },
    });
  });

  it('lostResponseRate: ambiguous connection_dropped, yet the payment exists', async () => {
    const before = await count();
    await t.setFaults({ lostResponseRate: 1 });
    const key = newIdempotencyKey();
    const b = body();
    expect(await client.createPayment(b, key)).toEqual({ kind: 'ambiguous', reason: 'connection_dropped' });
    await t.clearFaults();
    expect(await count()).toBe(before + 1);
    expect(await client.createPayment(b, key)).toMatchObject({ kind: 'ok', idemStatus: 'replayed' });
  });

  it('latencyMs: the answer comes, late', async () => {
    await t.setFaults({ latencyMs: 200 });
    const started = Date.now();
    expect(await client.getPayment('pmt_x')).toMatchObject({ kind: 'definite_failure', status: 404 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
  });

  it('a refused connection: retryable, not sent', async () => {
    const closed = new MethodClient({
      baseUrl: `http://127.0.0.1:${await freePort()}`,
      apiKey: API_KEY,
      version: METHOD_VERSION,
    });
    expect(await closed.createPayment(body(), newIdempotencyKey())).toEqual({
      kind: 'retryable',
      reason: 'not_sent',
    });
    await closed.close();
  });
});

describe('SIMULATOR_FAULTS', () => {
  it('are in force from start', async () => {
    expect(await (await fetch(`${t.url}/simulator/faults`)).json()).toMatchObject({
      latencyMs: 0,
      errorRate: 0,
    });
    const other = await startTestSimulator({ db: t.db, faults: { errorRate: 1 } });
    expect(await other.client.getPayment('pmt_x')).toMatchObject({ kind: 'retryable', status: 500 });
  });
});
