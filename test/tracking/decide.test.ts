// The forward-only rule (pure): whatever order and however often Method's states are observed,
// a payment ends in the status of the latest one; stale, repeated and unknown observations change nothing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mapMethodPaymentStatus } from '../../src/method/client.js';
import type { Payment as MethodPayment } from '../../src/method/types.js';
import type { PaymentRow } from '../../src/server/payments/payments.repository.js';
import { decide } from '../../src/server/tracking/apply.js';
import type { PaymentStatus } from '../../src/shared/statuses.js';

const row = (status: PaymentStatus, methodStatus: string | null, wasSent = false): PaymentRow =>
  ({
    id: 'p',
    status,
    method_status: methodStatus,
    method_was_sent: wasSent,
    method_payment_id: 'pmt_1',
  }) as PaymentRow;

const mp = (status: string, sourceStatus = 'pending', error: MethodPayment['error'] = null): MethodPayment =>
  ({ id: 'pmt_1', status, source_status: sourceStatus, amount: 100, error }) as MethodPayment;

describe('decide', () => {
  it('moves forward and ignores what is stale, repeated or unknown', () => {
    expect(decide(row('submitted', 'pending'), mp('pending'))).toEqual({
      kind: 'ignore',
      reason: 'not_forward',
    });
    expect(decide(row('submitted', 'pending'), mp('processing'))).toMatchObject({
      kind: 'move',
      to: 'processing',
    });
    expect(decide(row('paid', 'sent', true), mp('processing'))).toEqual({
      kind: 'ignore',
      reason: 'not_forward',
    });
    expect(decide(row('paid', 'posted', true), mp('sent'))).toEqual({
      kind: 'ignore',
      reason: 'not_forward',
    });
    expect(decide(row('paid', 'sent', true), mp('posted'))).toEqual({
      kind: 'note',
      methodStatus: 'posted',
      wasSent: true,
    });
    expect(decide(row('paid', 'sent', true), mp('teleported'))).toEqual({
      kind: 'ignore',
      reason: 'unknown_method_status',
    });
    expect(decide(row('submitting', null), mp('sent'))).toEqual({ kind: 'ignore', reason: 'not_tracked' });
    expect(decide(row('returned', 'failed', true), mp('failed'))).toEqual({
      kind: 'ignore',
      reason: 'not_tracked',
    });
  });

  it('tells a failure before sent from a return after it, even when `sent` was never seen', () => {
    const err = {
      type: 'PAYMENT_FAILED',
      code: 10009,
      sub_type: 'PAYMENT_REJECTED_BY_DESTINATION_INSTITUTION',
      message: 'x',
    };
    expect(decide(row('processing', 'processing'), mp('failed', 'returned'))).toMatchObject({
      kind: 'move',
      to: 'failed',
    });
    expect(decide(row('processing', 'processing'), mp('failed', 'sent', err))).toMatchObject({
      kind: 'move',
      to: 'returned',
      set: { method_was_sent: true, failure_code: 'PAYMENT_REJECTED_BY_DESTINATION_INSTITUTION' },
    });
    expect(decide(row('paid', 'sent', true), mp('failed', 'sent'))).toMatchObject({
      kind: 'move',
      to: 'returned',
    });
  });

  it('follows the reversal path: paid → needs_review → processing → paid or returned', () => {
    const d = decide(row('paid', 'sent', true), mp('reversal_required', 'returned'));
    expect(d).toMatchObject({ kind: 'move', to: 'needs_review' });
    expect(d.kind === 'move' && d.set.review_reason).toContain('reversal_required');
    expect(decide(row('needs_review', 'reversal_required', true), mp('reversal_processing'))).toMatchObject({
      kind: 'move',
      to: 'processing',
      set: { review_reason: null },
    });
    expect(decide(row('processing', 'reversal_processing', true), mp('settled'))).toMatchObject({
      kind: 'move',
      to: 'paid',
    });
    expect(decide(row('processing', 'reversal_processing', true), mp('reversed'))).toMatchObject({
      kind: 'move',
      to: 'returned',
    });
    expect(decide(row('processing', 'reversal_processing', true), mp('reversal_required'))).toEqual({
      kind: 'ignore',
      reason: 'not_forward',
    });
  });

  const PATHS: [string, string][][] = [
    [
      ['pending', 'pending'],
      ['processing', 'pending'],
      ['sent', 'sent'],
      ['posted', 'sent'],
    ],
    [
      ['pending', 'pending'],
      ['processing', 'processing'],
      ['failed', 'returned'],
    ],
    [
      ['pending', 'pending'],
      ['processing', 'processing'],
      ['sent', 'sent'],
      ['failed', 'sent'],
    ],
    [
      ['pending', 'pending'],
      ['sent', 'sent'],
      ['reversal_required', 'returned'],
    ],
    [
      ['pending', 'pending'],
      ['sent', 'sent'],
      ['reversal_required', 'returned'],
      ['reversal_processing', 'processing'],
      ['settled', 'sent'],
    ],
    [
      ['pending', 'pending'],
      ['sent', 'sent'],
      ['reversal_required', 'returned'],
      ['reversal_processing', 'processing'],
      ['reversed', 'returned'],
    ],
  ];

  it('any order and any repetition of a lifecycle ends where the lifecycle ends', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: PATHS.length - 1 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 25 }),
        (pathIndex, picks) => {
          const path = PATHS[pathIndex];
          // Observations drawn from the path (repeats and any order), always including the last state.
          const seen = [...picks.map((k) => path[k % path.length]), path[path.length - 1]];
          let p = row('submitted', 'pending');
          for (const [status, source] of shuffleBy(seen, picks)) {
            const d = decide(p, mp(status, source));
            if (d.kind === 'move') {
              p = {
                ...p,
                status: d.to,
                method_status: d.set.method_status as string,
                method_was_sent: Boolean(d.set.method_was_sent),
              };
            } else if (d.kind === 'note') {
              p = { ...p, method_status: d.methodStatus, method_was_sent: d.wasSent };
            }
          }
          const [last, lastSource] = path[path.length - 1];
          const expected = mapMethodPaymentStatus(last, {
            wasSent: lastSource === 'sent' || path.some(([s]) => s === 'sent'),
          });
          expect(p.status).toBe(expected);
          expect(p.method_status).toBe(last);
        },
      ),
      { numRuns: 500 },
    );
  });
});

function shuffleBy<T>(items: T[], keys: number[]): T[] {
  return items
    .map((v, i) => ({ v, k: keys[i % keys.length] * 31 + i }))
    .sort((a, b) => (a.k % 7) - (b.k % 7) || a.k - b.k)
    .map((x) => x.v);
}
