// The client's classification of every kind of answer (and of no answer), the status mapping,
// and the webhook signature helper — against a bare HTTP server, without the simulator.
import { createServer, type Server, type ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import {
  classify,
  MethodClient,
  mapMethodPaymentStatus,
  newIdempotencyKey,
} from '../../src/method/client.js';
import { signWebhook, verifyWebhook, webhookHeaders } from '../../src/method/webhook-signature.js';

const envelopeError = (type: string, code: number, sub_type: string) =>
  JSON.stringify({ success: false, data: { error: { type, code, sub_type, message: 'm' } }, message: 'm' });

describe('classify', () => {
  it('2xx with a success envelope is ok, with the idem-status', () => {
    expect(
      classify({
        status: 200,
        headers: { 'idem-status': 'stored', 'idem-request-id': 'r1' },
        body: '{"success":true,"data":{"id":"pmt_1"},"message":null}',
      }),
    ).toMatchObject({
      kind: 'ok',
      status: 200,
      data: { id: 'pmt_1' },
      idemStatus: 'stored',
      requestId: 'r1',
    });
  });

  it('2xx that cannot be read is ambiguous', () => {
    expect(classify({ status: 200, headers: {}, body: '<html>' })).toEqual({
      kind: 'ambiguous',
      reason: 'unreadable_response',
      status: 200,
    });
  });

  it('4xx is a definite failure with Method type (lower-cased), code and sub_type', () => {
    expect(
      classify({ status: 400, headers: {}, body: envelopeError('INVALID_REQUEST', 400, 'INVALID_AMOUNT') }),
    ).toEqual({
      kind: 'definite_failure',
      status: 400,
      error: { type: 'invalid_request', code: 400, subType: 'INVALID_AMOUNT', message: 'm' },
      idemStatus: null,
    });
  });

  it('429 is retryable and honours Retry-After (seconds or date), defaulting to the 60 s block', () => {
    expect(classify({ status: 429, headers: { 'retry-after': '7' }, body: '' })).toMatchObject({
      kind: 'retryable',
      retryAfterMs: 7000,
    });
    expect(classify({ status: 429, headers: {}, body: '' })).toMatchObject({
      kind: 'retryable',
      retryAfterMs: 60_000,
    });
    const at = new Date(Date.now() + 30_000).toUTCString();
    const r = classify({ status: 429, headers: { 'retry-after': at }, body: '' });
    expect(r.kind === 'retryable' && r.retryAfterMs).toBeGreaterThan(25_000);
  });

  it('5xx is retryable; a replayed stored 5xx is flagged', () => {
    expect(classify({ status: 502, headers: {}, body: 'bad gateway' })).toEqual({
      kind: 'retryable',
      status: 502,
      reason: 'server_error',
    });
    expect(
      classify({
        status: 500,
        headers: { 'idem-status': 'replayed' },
        body: envelopeError('API_ERROR', 500, 'X'),
      }),
    ).toMatchObject({
      kind: 'retryable',
      replayedFailure: true,
    });
  });

  it('503 IDEMPOTENCY_UNAVAILABLE (V1 envelope without data) is its own retryable reason', () => {
    const body = JSON.stringify({
      error: { type: 'API_ERROR', code: 503, sub_type: 'IDEMPOTENCY_UNAVAILABLE', message: 'later' },
    });
    expect(classify({ status: 503, headers: {}, body })).toMatchObject({
      kind: 'retryable',
      reason: 'idempotency_unavailable',
    });
  });
});

describe('mapMethodPaymentStatus', () => {
  it.each([
    ['pending', false, 'submitted'],
    ['processing', false, 'processing'],
    ['reversal_processing', true, 'processing'],
    ['sent', true, 'paid'],
    ['posted', true, 'paid'],
    ['settled', true, 'paid'],
    ['failed', false, 'failed'],
    ['failed', true, 'returned'],
    ['reversed', true, 'returned'],
    ['canceled', false, 'cancelled'],
    ['reversal_required', true, 'needs_review'],
    ['some_new_status', true, null],
  ] as const)('%s (was sent: %s) → %s', (status, wasSent, expected) => {
    expect(mapMethodPaymentStatus(status, { wasSent })).toBe(expected);
  });
});

describe('webhook signatures', () => {
  const rawBody = '{"id":"pmt_1"}';
  it('verifies what it signs, and refuses tampering, a wrong token and a stale timestamp', () => {
    const headers = webhookHeaders({
      rawBody,
      authToken: 'tok',
      hmacSecret: 'sec',
      timestampSeconds: 1_700_000_000,
    });
    expect(headers.authorization).toBe(Buffer.from('tok').toString('base64'));
    expect(headers['method-webhook-signature']).toBe(signWebhook('sec', 1_700_000_000, rawBody));
    const v = (o: Partial<Parameters<typeof verifyWebhook>[0]>) =>
      verifyWebhook({
        headers,
        rawBody,
        authToken: 'tok',
        hmacSecret: 'sec',
        nowSeconds: 1_700_000_100,
        ...o,
      });
    expect(v({})).toEqual({ ok: true });
    expect(v({ rawBody: '{"id":"pmt_2"}' })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(v({ authToken: 'other' })).toEqual({ ok: false, reason: 'bad_authorization' });
    expect(v({ nowSeconds: 1_700_000_400 })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(v({ headers: { ...headers, 'method-webhook-signature': undefined } })).toEqual({
      ok: false,
      reason: 'missing_signature',
    });
  });
});

describe('transport outcomes against a bare server', async () => {
  let behaviour: (res: ServerResponse) => void = (res) => res.end('{}');
  const seen: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      behaviour(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const client = new MethodClient({
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: 'sk_abc',
    version: '2025-12-01',
    timeoutMs: 300,
  });
  afterAll(async () => {
    await client.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends Bearer auth, Method-Version and the caller key, unchanged', async () => {
    behaviour = (res) => res.end(JSON.stringify({ success: true, data: { id: 'pmt_1' }, message: null }));
    const key = newIdempotencyKey();
    const r = await client.createPayment(
      { amount: 100, source: 'a', destination: 'b', description: 'd' },
      key,
    );
    expect(r).toMatchObject({ kind: 'ok', data: { id: 'pmt_1' }, idemStatus: null });
    const h = seen[seen.length - 1].headers;
    expect([h.authorization, h['method-version'], h['idempotency-key'], h['content-type']]).toEqual([
      'Bearer sk_abc',
      '2025-12-01',
      key,
      'application/json',
    ]);
  });

  it('a dropped connection after the request was read is ambiguous', async () => {
    behaviour = (res) => res.socket?.destroy();
    expect(await client.getPayment('pmt_1')).toEqual({ kind: 'ambiguous', reason: 'connection_dropped' });
  });

  it('no answer within the deadline is an ambiguous timeout', async () => {
    behaviour = () => {};
    expect(
      await client.createPayment(
        { amount: 100, source: 'a', destination: 'b', description: 'd' },
        newIdempotencyKey(),
      ),
    ).toEqual({
      kind: 'ambiguous',
      reason: 'timeout',
    });
  });

  it('a 4xx without Method envelope is still a definite failure', async () => {
    behaviour = (res) => {
      res.statusCode = 404;
      res.end('nope');
    };
    expect(await client.getPayment('pmt_1')).toMatchObject({
      kind: 'definite_failure',
      status: 404,
      error: { subType: 'UNKNOWN' },
    });
  });
});
