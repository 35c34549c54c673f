// The same Method scenarios against the simulator (default) or Method's `dev` environment when
// METHOD_CONTRACT_URL and METHOD_CONTRACT_KEY are set. Never point this at sandbox or production:
// it creates entities and payments. CI runs only the simulator variant.
import { afterAll, describe, expect, it } from 'vitest';
import { MethodClient, newIdempotencyKey, resolvePayableMerchant } from '../../src/method/client.js';
import { createPayable, expectOk, METHOD_VERSION, startTestSimulator } from '../simulator/support.js';

const remoteUrl = process.env.METHOD_CONTRACT_URL;
const remoteKey = process.env.METHOD_CONTRACT_KEY;
if (
  remoteUrl &&
  !/^https:\/\/dev\.methodfi\.com\/?$/.test(remoteUrl) &&
  !process.env.METHOD_CONTRACT_ALLOW_ANY_URL
) {
  throw new Error(`METHOD_CONTRACT_URL must be https://dev.methodfi.com (got ${remoteUrl})`);
}

async function target(): Promise<{ client: MethodClient; name: string; simulate: boolean }> {
  if (remoteUrl && remoteKey) {
    const client = new MethodClient({
      baseUrl: remoteUrl,
      apiKey: remoteKey,
      version: process.env.METHOD_VERSION ?? METHOD_VERSION,
      timeoutMs: 30_000,
    });
    afterAll(() => client.close());
    return { client, name: 'Method dev', simulate: true };
  }
  const t = await startTestSimulator();
  return { client: t.client, name: 'simulator', simulate: true };
}

const { client, name } = await target();
// Method dev has its own merchant catalogue: a Plaid id known there can be given for the run.
const plaidId = process.env.METHOD_CONTRACT_PLAID_ID ?? 'ins_116861';

describe(`Method contract (${name})`, () => {
  it('creates the parties of a payment and makes them payable', async () => {
    const s = await createPayable(client, { plaidId });
    expect(s.payor.status).toBe('active');
    expect(s.employee.status).toBe('active');
    expect(s.source.products).toContain('payment');
    expect(s.destination.products).toContain('payment');
  });

  it('creates, replays, reads, lists and cancels a payment', async () => {
    const s = await createPayable(client, { plaidId });
    const key = newIdempotencyKey();
    const body = {
      amount: 100,
      source: s.source.id,
      destination: s.destination.id,
      description: 'Contract',
      metadata: { contract: true },
    };
    const first = await client.createPayment(body, key);
    const again = await client.createPayment(body, key);
    expect(first).toMatchObject({ kind: 'ok', data: { status: 'pending', amount: 100 } });
    const p = expectOk(first);
    expect(again).toMatchObject({ kind: 'ok', data: { id: p.id } });
    if (again.kind === 'ok' && again.idemStatus !== null) expect(again.idemStatus).toBe('replayed');
    expect(expectOk(await client.getPayment(p.id)).id).toBe(p.id);
    expect(
      expectOk(await client.listPayments({ destination: s.destination.id, page_limit: 10 })).items.map(
        (x) => x.id,
      ),
    ).toContain(p.id);
    expect(expectOk(await client.cancelPayment(p.id)).status).toBe('canceled');
  });

  it('refuses what Method refuses, as a definite failure with its sub_type', async () => {
    const s = await createPayable(client, { plaidId });
    const bad = await client.createPayment(
      { amount: 99, source: s.source.id, destination: s.destination.id, description: 'Contract' },
      newIdempotencyKey(),
    );
    expect(bad).toMatchObject({
      kind: 'definite_failure',
      status: 400,
      error: { type: 'invalid_request', subType: 'INVALID_AMOUNT' },
    });
    const long = await client.createPayment(
      { amount: 100, source: s.source.id, destination: s.destination.id, description: 'Longer than ten' },
      newIdempotencyKey(),
    );
    expect(long).toMatchObject({ kind: 'definite_failure', status: 400 });
  });

  it('moves a payment by simulation and sees the status Method reports', async () => {
    const s = await createPayable(client, { plaidId });
    const p = expectOk(
      await client.createPayment(
        { amount: 100, source: s.source.id, destination: s.destination.id, description: 'Contract' },
        newIdempotencyKey(),
      ),
    );
    expect(expectOk(await client.simulatePaymentStatus(p.id, { status: 'processing' })).status).toBe(
      'processing',
    );
    expect(
      expectOk(await client.simulatePaymentStatus(p.id, { status: 'failed', error_code: 10001 })).error?.code,
    ).toBe(10001);
  });

  it('resolves a Plaid id to a student-loan merchant', async () => {
    expect((await resolvePayableMerchant(client, plaidId)).kind).toBe('payable');
  });
});
