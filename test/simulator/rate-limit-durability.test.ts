// Method's payment-creation rate limit (429 + Retry-After, then a 60 s block), and durability:
// what the simulator acknowledged is there after it is closed and rebuilt on the same database.
import { describe, expect, it } from 'vitest';
import { MethodClient, newIdempotencyKey } from '../../src/method/client.js';
import { RollingRateLimiter } from '../../src/simulator/rate-limit.js';
import { API_KEY, createPayable, expectOk, METHOD_VERSION, startTestSimulator } from './support.js';

describe('the rolling rate limiter', () => {
  it('allows N per rolling minute, then blocks the key for 60 s', () => {
    let now = 0;
    const limiter = new RollingRateLimiter(3, 60_000, 60_000, () => now);
    expect([1, 2, 3].map(() => limiter.take('k').allowed)).toEqual([true, true, true]);
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterSeconds: 60 });
    expect(limiter.take('other').allowed).toBe(true);
    now = 59_000;
    expect(limiter.take('k')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now = 60_000;
    expect(limiter.take('k').allowed).toBe(true);
    expect(new RollingRateLimiter(0).take('k').allowed).toBe(true);
  });
});

describe('rate limit over HTTP', async () => {
  const t = await startTestSimulator({ paymentsPerMinute: 3 });
  const setup = await createPayable(t.client);

  it('answers the 4th payment creation in a minute with 429 and Retry-After: 60, and creates nothing', async () => {
    const body = {
      amount: 100,
      source: setup.source.id,
      destination: setup.destination.id,
      description: 'x',
    };
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await t.client.createPayment(body, newIdempotencyKey()));
    expect(results.map((r) => r.kind)).toEqual(['ok', 'ok', 'ok', 'retryable']);
    expect(results[3]).toMatchObject({
      status: 429,
      reason: 'rate_limited',
      retryAfterMs: 60_000,
      error: { subType: 'TOO_MANY_REQUESTS' },
    });
    expect(expectOk(await t.client.listPayments({ destination: setup.destination.id })).items).toHaveLength(
      3,
    );
    // Other tiers are not limited, and the limit is per API key.
    expect((await t.client.getPayment(results[0].kind === 'ok' ? results[0].data.id : '')).kind).toBe('ok');
    const other = new MethodClient({ baseUrl: t.url, apiKey: `${API_KEY}_2`, version: METHOD_VERSION });
    expect((await other.createPayment(body, newIdempotencyKey())).kind).toBe('ok');
    await other.close();
  });
});

describe('durability', async () => {
  const first = await startTestSimulator();
  const setup = await createPayable(first.client);

  it('finds every acknowledged object after the simulator is closed and rebuilt on the same database', async () => {
    const keys = Array.from({ length: 20 }, () => newIdempotencyKey());
    const created = await Promise.all(
      keys.map(async (key, i) =>
        expectOk(
          await first.client.createPayment(
            {
              amount: 100 + i,
              source: setup.source.id,
              destination: setup.destination.id,
              description: 'x',
              metadata: { row: i },
            },
            key,
          ),
        ),
      ),
    );
    const before = await first.stats();
    await first.sim.close();

    const second = await startTestSimulator({ db: first.db });
    const after = await second.stats();
    expect({ ...after, requests: 0 }).toEqual({ ...before, requests: 0 });
    for (const p of created) expect(expectOk(await second.client.getPayment(p.id)).amount).toBe(p.amount);
    // The keys survived too: a retry after the restart replays instead of paying twice.
    const replay = await second.client.createPayment(
      {
        amount: 100,
        source: setup.source.id,
        destination: setup.destination.id,
        description: 'x',
        metadata: { row: 0 },
      },
      keys[0],
    );
    expect(replay).toMatchObject({ kind: 'ok', idemStatus: 'replayed', data: { id: created[0].id } });
    expect(expectOk(await second.client.getEntity(setup.employee.id)).status).toBe('active');
  });
});
