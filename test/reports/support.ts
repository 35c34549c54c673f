// Helpers for report and people tests: an RFC 4180 parser written from the RFC (independent of
// csv-stringify), booking a draft without Method (pre-flight answers stored directly), and moving
// payments through the real transition function.
import { UNPAYABLE_PLAID_ID } from '../../bench/generator.js';
import { withTransaction } from '../../src/server/db.js';
import { lockPayment, transitionPayment } from '../../src/server/payments/payments.repository.js';
import type { PaymentStatus } from '../../src/shared/statuses.js';
import type { TestApp } from '../support/app.js';

/**
 * RFC 4180: records end with CRLF; a field is either bare (no quote, comma or line break) or wrapped
 * in double quotes with inner quotes doubled, and may then hold commas and line breaks.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const record: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new Error('unterminated quoted field');
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
            } else {
              i++;
              break;
            }
          } else {
            field += c;
            i++;
          }
        }
        if (i < n && text[i] !== ',' && text[i] !== '\r')
          throw new Error(`unexpected ${JSON.stringify(text[i])} after a quoted field at ${i}`);
      } else {
        while (i < n && text[i] !== ',' && text[i] !== '\r') {
          if (text[i] === '"' || text[i] === '\n') throw new Error(`bare quote or LF in a field at ${i}`);
          field += text[i];
          i++;
        }
      }
      record.push(field);
      if (text[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    if (i < n) {
      if (text[i] !== '\r' || text[i + 1] !== '\n') throw new Error(`record not ended by CRLF at ${i}`);
      i += 2;
    }
    records.push(record);
  }
  return records;
}

/** Header + records as objects keyed by column. */
export function csvObjects(text: string): { header: string[]; rows: Record<string, string>[] } {
  const [header, ...records] = parseCsv(text);
  if (!header) throw new Error('empty CSV');
  for (const r of records) if (r.length !== header.length) throw new Error(`ragged record ${r.join('|')}`);
  return {
    header,
    rows: records.map((r) => Object.fromEntries(header.map((h, k) => [h, r[k]!]))),
  };
}

/** Cents as CSV dollars, written independently of src/shared/money.ts. */
export const dollars = (cents: number) =>
  `${cents < 0 ? '-' : ''}${Math.trunc(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, '0')}`;

/** "12.34" → 1234 without floats. */
export function toCents(text: string): number {
  const m = /^(-?)(\d+)\.(\d\d)$/.exec(text);
  if (!m) throw new Error(`not dollars with two decimals: ${text}`);
  return (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3]));
}

export async function upload(t: TestApp, xml: string, name = 'file.xml'): Promise<string> {
  const r = await t.as('operator', {
    method: 'POST',
    url: '/api/batches',
    headers: { 'content-type': 'application/xml', 'x-file-name': name },
    payload: xml,
  });
  if (r.statusCode !== 201) throw new Error(`upload failed: ${r.statusCode} ${r.body}`);
  return r.json().batch.id;
}

/** Stores the pre-flight's answers (the generator's unpayable Plaid id is not payable) and approves. */
export async function book(t: TestApp, batchId: string): Promise<void> {
  await t.db.pool.query(
    `INSERT INTO plaid_merchants (plaid_id, payable, merchant_id, reason)
     SELECT DISTINCT plaid_id, plaid_id <> $2, CASE WHEN plaid_id <> $2 THEN 'mch_' || plaid_id END,
            CASE WHEN plaid_id = $2 THEN 'no payable merchant' END
       FROM batch_lines WHERE batch_id = $1
     ON CONFLICT (plaid_id) DO NOTHING`,
    [batchId, UNPAYABLE_PLAID_ID],
  );
  await t.db.pool.query(
    "UPDATE batches SET preflight_status = 'complete', preflight_checked_at = now() WHERE id = $1",
    [batchId],
  );
  const r = await t.as('approver', { method: 'POST', url: `/api/batches/${batchId}/approve` });
  if (r.statusCode !== 200) throw new Error(`approve failed: ${r.statusCode} ${r.body}`);
}

/** Walks a payment through statuses with transitionPayment, one transaction per step. */
export async function move(t: TestApp, paymentId: string, path: PaymentStatus[]): Promise<void> {
  for (const to of path) {
    await withTransaction(t.db.pool, async (tx) => {
      const p = await lockPayment(tx, paymentId);
      if (!p) throw new Error(`no payment ${paymentId}`);
      const moved = await transitionPayment(tx, p, {
        to,
        cause: 'worker',
        set:
          to === 'submitted'
            ? { method_payment_id: `pmt_${paymentId.slice(0, 8)}`, method_status: 'pending' }
            : to === 'failed'
              ? { method_status: 'failed', failure_code: 'INSUFFICIENT_FUNDS', failure_message: 'R01, "NSF"' }
              : to === 'paid'
                ? { method_status: 'sent', method_was_sent: true }
                : to === 'returned'
                  ? { method_status: 'reversed' }
                  : {},
      });
      if (!moved) throw new Error(`payment ${paymentId} did not move to ${to}`);
    });
  }
}

export const PAID: PaymentStatus[] = ['submitting', 'submitted', 'paid'];
export const FAILED: PaymentStatus[] = ['submitting', 'submitted', 'failed'];
export const RETURNED: PaymentStatus[] = ['submitting', 'submitted', 'paid', 'returned'];
export const IN_FLIGHT: PaymentStatus[] = ['submitting', 'submitted'];

/** The file's account numbers (source and loan), which must never appear anywhere we show. */
export function accountNumbers(xml: string): string[] {
  return [...xml.matchAll(/<(?:AccountNumber|LoanAccountNumber)>(\d+)<\//g)].map((m) => m[1]!);
}

/** Sums <Amount> straight from the bytes: an independent check of the file's total. */
export function fileTotalCents(xml: string): number {
  let cents = 0;
  for (const m of xml.matchAll(/<Amount>\$?([\d,]+)\.(\d\d)<\/Amount>/g)) {
    cents += Number(m[1]!.replaceAll(',', '')) * 100 + Number(m[2]);
  }
  return cents;
}
