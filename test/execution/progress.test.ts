// Live progress (SSE) and the pacing/ETA of a running batch.
import { beforeAll, describe, expect, it } from 'vitest';
import { bucketShape, takeToken } from '../../src/server/execution/throttle.js';
import { createTestApp, type TestApp } from '../support/app.js';
import { startTestMethod, type TestMethod, uploadAndApprove } from '../support/method.js';

let t: TestApp;
let m: TestMethod;
beforeAll(async () => {
  m = await startTestMethod();
  t = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '0' }, { methodClient: m.client });
});

async function* sseEvents(url: string, token: string, signal: AbortSignal) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i = buf.indexOf('\n\n');
    while (i >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event && data) yield { event, data: JSON.parse(data) };
      i = buf.indexOf('\n\n');
    }
  }
}

describe('progress', () => {
  it('streams progress on connect and whenever the figures change', async () => {
    const { batchId, rows } = await uploadAndApprove(t, {
      rows: 150,
      employees: 40,
      sources: 3,
      branches: 3,
      seed: 401,
    });
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const ctl = new AbortController();
    const seen: { status: string; counts: Record<string, number> }[] = [];
    try {
      for await (const e of sseEvents(
        `${address}/api/batches/${batchId}/events`,
        t.tokens.auditor,
        ctl.signal,
      )) {
        expect(e.event).toBe('progress');
        seen.push(e.data);
        if (seen.length === 1) {
          // Nothing submitted yet (no worker runs): cancelling moves every payment, and the stream says so.
          const r = await t.as('approver', {
            method: 'POST',
            url: `/api/batches/${batchId}/cancel`,
            payload: { reason: 'test' },
          });
          expect(r.statusCode).toBe(200);
        }
        if (e.data.counts.cancelled === rows) break;
      }
    } finally {
      ctl.abort();
    }
    expect(seen[0]).toMatchObject({ status: 'executing' });
    expect(seen[0]!.counts.pending + seen[0]!.counts.cancelled).toBe(rows);
    expect(seen.at(-1)).toMatchObject({ counts: { pending: 0, cancelled: rows } });
  }, 30_000);

  it('the ETA counts what is left under the throttle', async () => {
    const paced = await createTestApp({ METHOD_PAYMENTS_PER_MINUTE: '114' }, { methodClient: m.client });
    const { batchId } = await uploadAndApprove(paced, {
      rows: 60,
      employees: 15,
      sources: 2,
      branches: 2,
      seed: 402,
      unpayablePlaidShare: false,
    });
    const b = (await paced.as('auditor', { method: 'GET', url: `/api/batches/${batchId}` })).json();
    expect(b.etaSeconds).toBe(Math.ceil((60 / 114) * 60));
  });

  it('the shared token bucket never lets more than Method’s 120 through in a minute', async () => {
    expect(bucketShape(114)).toEqual({ capacity: 6, perSecond: 1.9 });
    // Drain the bucket, then count grants over 2 seconds: capacity + rate × time at most.
    let granted = 0;
    const start = Date.now();
    while (Date.now() - start < 2000) {
      const r = await takeToken(t.db.pool, 114, 'test_bucket');
      if (r.granted) granted++;
      else await new Promise((res) => setTimeout(res, Math.min(r.waitMs, 100)));
    }
    expect(granted).toBeGreaterThanOrEqual(6 + 2); // the burst, then ~1.9/s
    expect(granted).toBeLessThanOrEqual(6 + Math.ceil(1.9 * 2.2));
  });
});
