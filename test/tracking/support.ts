// Helpers for the tracking tests: a relay that holds Method's webhook deliveries so a test can
// replay them (duplicated, shuffled) or drop them, and what our status must be for Method's.
import { createServer } from 'node:http';
import { afterAll, expect } from 'vitest';
import { mapMethodPaymentStatus } from '../../src/method/client.js';
import type { TestApp } from '../support/app.js';
import type { TestMethod } from '../support/method.js';

export const WEBHOOK_SECRET = 'whsec_test_0123456789abcdef0123456789abcdef';

export interface Delivery {
  headers: Record<string, string>;
  body: string;
}

/** Answers 200 to everything and keeps what it got. */
export async function startRelay(): Promise<{ url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      deliveries.push({ headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/webhooks/method`, deliveries };
}

/** Deterministic shuffle (mulberry32), so a failure replays the same order. */
export function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const rnd = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Our payments next to Method's record of each (by method_payment_id). */
export async function compareWithMethod(t: TestApp, m: TestMethod, batchId: string) {
  const ours = await t.db.pool.query(
    'SELECT id, status, method_payment_id, method_status FROM payments WHERE batch_id = $1 AND method_payment_id IS NOT NULL ORDER BY row_number',
    [batchId],
  );
  const theirs = await m.simPool.query('SELECT id, status, was_sent FROM sim_payments');
  const byId = new Map(theirs.rows.map((r) => [r.id as string, r as { status: string; was_sent: boolean }]));
  return ours.rows.map((p) => {
    const mp = byId.get(p.method_payment_id)!;
    return {
      id: p.id as string,
      status: p.status as string,
      methodStatus: p.method_status as string,
      atMethod: mp.status,
      expected: mapMethodPaymentStatus(mp.status, { wasSent: mp.was_sent }),
    };
  });
}

export async function simStatuses(m: TestMethod): Promise<Record<string, number>> {
  const { rows } = await m.simPool.query(
    'SELECT status, count(*)::int AS n FROM sim_payments GROUP BY 1 ORDER BY 1',
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export async function expectLedgerBalanced(t: TestApp): Promise<void> {
  const ledger = (await t.as('auditor', { method: 'GET', url: '/api/ledger/check' })).json();
  expect(ledger.accountMismatches).toEqual([]);
  expect(ledger.unbalancedPostings).toEqual([]);
  expect(ledger.balanced).toBe(true);
}
