// Each simulated Method resource: the happy path with Method's field names and prefixes, and the
// validation errors Method gives.
import { describe, expect, it } from 'vitest';
import { newIdempotencyKey, resolvePayableMerchant } from '../../src/method/client.js';
import { createPayable, expectOk, startTestSimulator } from './support.js';

const t = await startTestSimulator();
const { client } = t;
const setup = await createPayable(client);

function expectError(o: { kind: string }, status: number, subType: string) {
  expect(o).toMatchObject({
    kind: 'definite_failure',
    status,
    error: { subType, type: 'invalid_request', code: status },
  });
}

describe('entities', () => {
  it('an individual starts incomplete and becomes active after phone and identity sessions', async () => {
    const e = expectOk(
      await client.createEntity(
        {
          type: 'individual',
          individual: { first_name: 'Ann', last_name: 'Lee', phone: '+16505555555', dob: '1990-02-03' },
        },
        newIdempotencyKey(),
      ),
    );
    expect(e.id).toMatch(/^ent_[0-9A-Za-z]{15}$/);
    expect(e).toMatchObject({ type: 'individual', status: 'incomplete', products: [], error: null });
    const phone = expectOk(
      await client.createEntityVerificationSession(
        e.id,
        { type: 'phone', method: 'byo_sms', byo_sms: { timestamp: '2021-09-01T00:00:00.000Z' } },
        newIdempotencyKey(),
      ),
    );
    expect(phone).toMatchObject({ entity_id: e.id, status: 'verified', type: 'phone', method: 'byo_sms' });
    expect(phone.id).toMatch(/^evf_/);
    expect(expectOk(await client.getEntity(e.id)).status).toBe('incomplete');
    expectOk(
      await client.createEntityVerificationSession(
        e.id,
        { type: 'identity', method: 'kba', kba: {} },
        newIdempotencyKey(),
      ),
    );
    const active = expectOk(await client.getEntity(e.id));
    expect(active).toMatchObject({ status: 'active', products: ['payment'] });
    expect(active.verification?.phone.verified).toBe(true);
    expect(active.verification?.identity.verified).toBe(true);
  });

  it('a corporation with a name and address is active at once', () => {
    expect(setup.payor).toMatchObject({ type: 'corporation', status: 'active', products: ['payment'] });
  });

  it('refuses a phone that is not E.164 and a date of birth that does not exist', async () => {
    expectError(
      await client.createEntity(
        { type: 'individual', individual: { phone: '555-1234' } },
        newIdempotencyKey(),
      ),
      400,
      'INVALID_REQUEST',
    );
    expectError(
      await client.createEntity(
        { type: 'individual', individual: { dob: '1999-02-30' } },
        newIdempotencyKey(),
      ),
      400,
      'INVALID_REQUEST',
    );
  });

  it('refuses identity verification without a name and phone', async () => {
    const e = expectOk(
      await client.createEntity({ type: 'individual', individual: {} }, newIdempotencyKey()),
    );
    expectError(
      await client.createEntityVerificationSession(
        e.id,
        { type: 'identity', method: 'kba', kba: {} },
        newIdempotencyKey(),
      ),
      400,
      'INVALID_VERIFICATION',
    );
  });

  it('answers 404 NOT_FOUND for an unknown entity', async () => {
    expectError(await client.getEntity('ent_doesnotexist12'), 404, 'NOT_FOUND');
  });
});

describe('merchants', () => {
  it('lists the merchants of a Plaid id, several of different types', async () => {
    const page = expectOk(await client.listMerchants({ 'provider_id.plaid': 'ins_116248' }));
    expect(page.items.map((m) => [m.id, m.type])).toEqual([
      ['mch_301008', 'credit_card'],
      ['mch_301009', 'student_loans'],
    ]);
    expect(page.pagination.totalCount).toBe(2);
  });

  it('resolves each of the real file ten Plaid ids; ins_116527 has no student-loan merchant', async () => {
    const ids = [
      'ins_116944',
      'ins_116861',
      'ins_108798',
      'ins_116304',
      'ins_116866',
      'ins_116248',
      'ins_116527',
      'ins_116950',
      'ins_116945',
      'ins_116947',
    ];
    const results = await Promise.all(ids.map((id) => resolvePayableMerchant(client, id)));
    const payable = Object.fromEntries(
      ids.map((id, i) => [
        id,
        results[i].kind === 'payable' ? (results[i] as { merchantId: string }).merchantId : results[i].kind,
      ]),
    );
    expect(payable).toEqual({
      ins_116944: 'mch_301001',
      ins_116861: 'mch_301003',
      ins_108798: 'mch_301004',
      ins_116304: 'mch_301006',
      ins_116866: 'mch_301007',
      ins_116248: 'mch_301009',
      ins_116527: 'unpayable',
      ins_116950: 'mch_301011',
      ins_116945: 'mch_301012',
      // the permanent merchant wins over the temporary one listed first
      ins_116947: 'mch_301015',
    });
    expect(results[6]).toEqual({
      kind: 'unpayable',
      reason: 'ins_116527 has no student-loan merchant at Method (only: credit_card)',
    });
  });

  it('an unknown Plaid id has no merchant', async () => {
    expect(await resolvePayableMerchant(client, 'ins_1')).toEqual({
      kind: 'unpayable',
      reason: 'Method knows no merchant for ins_1',
    });
  });
});

describe('accounts', () => {
  it('creates an ACH source and a liability with the payment product', () => {
    expect(setup.source.id).toMatch(/^acc_/);
    expect(setup.source).toMatchObject({
      holder_id: setup.payor.id,
      status: 'active',
      type: 'ach',
      ach: { routing: '547414133', number: '93785544', type: 'checking' },
      products: ['payment'],
    });
    expect(setup.destination).toMatchObject({
      holder_id: setup.employee.id,
      type: 'liability',
      liability: { mch_id: 'mch_301003', mask: '8510', type: 'student_loans', name: 'MOHELA' },
      products: ['payment'],
    });
  });

  it('a liability at a merchant that takes no payments lacks the payment product', async () => {
    const a = expectOk(
      await client.createAccount(
        { holder_id: setup.employee.id, liability: { mch_id: 'mch_301002', account_number: '12345678' } },
        newIdempotencyKey(),
      ),
    );
    expect(a).toMatchObject({ products: [], restricted_products: ['payment'] });
  });

  it('refuses a bad routing number, an unknown merchant and an unknown holder', async () => {
    expectError(
      await client.createAccount(
        { holder_id: setup.payor.id, ach: { routing: '123456789', number: '1234', type: 'checking' } },
        newIdempotencyKey(),
      ),
      400,
      'INVALID_ROUTING_NUMBER',
    );
    expectError(
      await client.createAccount(
        { holder_id: setup.employee.id, liability: { mch_id: 'mch_1', account_number: '12345678' } },
        newIdempotencyKey(),
      ),
      400,
      'INVALID_MERCHANT',
    );
    expectError(
      await client.createAccount(
        { holder_id: 'ent_nobody', ach: { routing: '547414133', number: '1234', type: 'checking' } },
        newIdempotencyKey(),
      ),
      400,
      'INVALID_HOLDER',
    );
  });

  it('an ACH verification session is verified at once (dev behaviour)', async () => {
    const s = expectOk(
      await client.createAccountVerificationSession(
        setup.source.id,
        { type: 'micro_deposits' },
        newIdempotencyKey(),
      ),
    );
    expect(s).toMatchObject({ account_id: setup.source.id, status: 'verified', type: 'micro_deposits' });
    expect(expectOk(await client.getAccount(setup.source.id)).latest_verification_session).toBe(s.id);
  });
});

describe('payments', () => {
  const body = () => ({
    amount: 1187,
    source: setup.source.id,
    destination: setup.destination.id,
    description: 'LoanPay',
    metadata: { paymentId: 'p-1', batchId: 'b-1' },
  });

  it('creates a pending payment and reads it back with fund_status', async () => {
    const p = expectOk(await client.createPayment(body(), newIdempotencyKey()));
    expect(p.id).toMatch(/^pmt_/);
    expect(p).toMatchObject({
      amount: 1187,
      status: 'pending',
      source_status: 'pending',
      destination_status: 'pending',
      type: 'standard',
      error: null,
      reversal_id: null,
      metadata: { paymentId: 'p-1', batchId: 'b-1' },
    });
    expect(p.fund_status).toBeUndefined();
    const got = expectOk(await client.getPayment(p.id));
    expect(got).toMatchObject({ id: p.id, status: 'pending', fund_status: 'pending' });
  });

  it('cancels a pending payment; a second cancel is INVALID_STATUS', async () => {
    const p = expectOk(await client.createPayment(body(), newIdempotencyKey()));
    const c = expectOk(await client.cancelPayment(p.id));
    expect(c).toMatchObject({
      status: 'canceled',
      source_status: 'canceled',
      destination_status: 'canceled',
    });
    expectError(await client.cancelPayment(p.id), 400, 'INVALID_STATUS');
  });

  it.each([
    [{ amount: 99 }, 'INVALID_AMOUNT'],
    [{ amount: 100_000_001 }, 'INVALID_AMOUNT'],
    [{ amount: 10.5 }, 'INVALID_AMOUNT_TYPE'],
    [{ amount: '1000' }, 'INVALID_AMOUNT_TYPE'],
    [{ description: 'ElevenChars' }, 'INVALID_ACH_DESCRIPTION'],
    [{ description: undefined }, 'INVALID_REQUEST'],
    [{ source: undefined }, 'INVALID_REQUEST'],
    [{ metadata: { blob: 'x'.repeat(1100) } }, 'MAX_PAYMENT_METADATA_SIZE_EXCEEDED'],
    [{ destination: 'SAME' }, 'INVALID_TRANSFER'],
    [{ source: 'acc_unknown' }, 'INVALID_SOURCE'],
    [{ source: 'DEST', destination: 'SRC' }, 'INVALID_SOURCE_LIABILITY'],
    [{ destination: 'acc_unknown' }, 'INVALID_DESTINATION'],
  ])('refuses %j with %s', async (change, subType) => {
    const b: Record<string, unknown> = { ...body(), ...change };
    if (b.destination === 'SAME') b.destination = b.source;
    if (b.source === 'DEST') {
      b.source = setup.destination.id;
      b.destination = setup.source.id;
    }
    for (const k of Object.keys(b)) if (b[k] === undefined) delete b[k];
    expectError(await client.createPayment(b as never, newIdempotencyKey()), 400, subType);
  });

  it('accepts exactly $1.00, $1,000,000.00 and a 10-character description', async () => {
    expectOk(
      await client.createPayment({ ...body(), amount: 100, description: 'MethodNode' }, newIdempotencyKey()),
    );
    expectOk(await client.createPayment({ ...body(), amount: 100_000_000 }, newIdempotencyKey()));
  });

  it('refuses a destination holder that is not active and a destination without the payment product', async () => {
    const stranger = expectOk(
      await client.createEntity({ type: 'individual', individual: { first_name: 'X' } }, newIdempotencyKey()),
    );
    const loan = expectOk(
      await client.createAccount(
        { holder_id: stranger.id, liability: { mch_id: 'mch_301003', account_number: '87654321' } },
        newIdempotencyKey(),
      ),
    );
    expectError(
      await client.createPayment({ ...body(), destination: loan.id }, newIdempotencyKey()),
      400,
      'INVALID_DESTINATION_HOLDER',
    );
    const personal = expectOk(
      await client.createAccount(
        { holder_id: setup.employee.id, liability: { mch_id: 'mch_301002', account_number: '12345670' } },
        newIdempotencyKey(),
      ),
    );
    expectError(
      await client.createPayment({ ...body(), destination: personal.id }, newIdempotencyKey()),
      400,
      'INVALID_DESTINATION_CAPABILITIES',
    );
  });

  it('lists newest first with filters and Method pagination headers', async () => {
    const other = await createPayable(client, {
      plaidId: 'ins_116304',
      loanNumber: '00012345',
      payor: setup.payor,
      source: setup.source,
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = expectOk(
        await client.createPayment(
          { ...body(), destination: other.destination.id, amount: 200 + i, metadata: { row: i } },
          newIdempotencyKey(),
        ),
      );
      ids.push(p.id);
    }
    const first = expectOk(await client.listPayments({ destination: other.destination.id, page_limit: 2 }));
    expect(first.items.map((p) => p.id)).toEqual([ids[4], ids[3]]);
    expect(first.pagination).toMatchObject({
      page: 1,
      pageCount: 3,
      pageLimit: 2,
      totalCount: 5,
      pageCursorNext: ids[3],
    });
    const next = expectOk(
      await client.listPayments({ destination: other.destination.id, page_limit: 2, page_cursor: ids[3] }),
    );
    expect(next.items.map((p) => p.id)).toEqual([ids[2], ids[1]]);
    const page3 = expectOk(
      await client.listPayments({ destination: other.destination.id, page_limit: 2, page: 3 }),
    );
    expect(page3.items.map((p) => p.metadata)).toEqual([{ row: 0 }]);
    const byHolder = expectOk(await client.listPayments({ holder_id: other.employee.id, status: 'pending' }));
    expect(byHolder.items).toHaveLength(5);
    const today = new Date().toISOString().slice(0, 10);
    expect(
      expectOk(
        await client.listPayments({ destination: other.destination.id, from_date: today, to_date: today }),
      ).items,
    ).toHaveLength(5);
    expect(
      expectOk(await client.listPayments({ destination: other.destination.id, to_date: '2000-01-01' })).items,
    ).toHaveLength(0);
  });
});

describe('webhooks', () => {
  it('registers, lists, disables and re-enables a webhook, never echoing its secrets', async () => {
    const w = expectOk(
      await client.createWebhook(
        { type: 'payment.update', url: 'http://127.0.0.1:9/hook', auth_token: 'tok', hmac_secret: 'sec' },
        newIdempotencyKey(),
      ),
    );
    expect(w.id).toMatch(/^whk_/);
    expect(w).toMatchObject({
      type: 'payment.update',
      status: 'active',
      expand_event: false,
      metadata: null,
      error: null,
    });
    expect(JSON.stringify(w)).not.toContain('sec');
    expect(expectOk(await client.listWebhooks()).items.map((x) => x.id)).toContain(w.id);
    expect(expectOk(await client.updateWebhook(w.id, { status: 'disabled' })).error?.sub_type).toBe(
      'WEBHOOK_DISABLED_BY_USER',
    );
    expect(expectOk(await client.updateWebhook(w.id, { status: 'active' }))).toMatchObject({
      status: 'active',
      error: null,
    });
    expectOk(await client.deleteWebhook(w.id));
    expectError(await client.getWebhook(w.id), 404, 'NOT_FOUND');
  });
});

describe('authentication', () => {
  it('answers 401 without a Bearer sk_ key', async () => {
    const res = await fetch(`${t.url}/payments`, { headers: { authorization: 'Bearer pk_public' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({
      success: false,
      data: { error: { code: 401, type: 'INVALID_AUTHORIZATION' } },
    });
  });
});
