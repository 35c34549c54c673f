// Applies what Method says about one of our payments — the one place where webhooks, the poller
// and reconciliation turn a Method payment object into a LoanPay status change, forward only.
import { mapMethodPaymentStatus, methodShowsSent } from '../../method/client.js';
import type { Payment as MethodPayment } from '../../method/types.js';
import { canTransition, PROGRESS } from '../../shared/payment-state.js';
import type { PaymentStatus } from '../../shared/statuses.js';
import { type Pool, withTransaction } from '../db.js';
import { refreshBatchStatuses } from '../execution/sweeper.js';
import { type PaymentRow, type TransitionInput, transitionPayment } from '../payments/payments.repository.js';

export type TrackingCause = 'webhook' | 'reconciler';

/**
 * How far along Method's own lifecycle a status is (method.md §5.4). LoanPay's PROGRESS cannot
 * order the reversal path on its own — `paid` → `needs_review` (reversal_required) →
 * `processing` (reversal_processing) goes "backwards" in LoanPay terms while Method moves on —
 * so Method's rank decides whether an observation is news, and PROGRESS breaks ties.
 */
export const METHOD_RANK: Readonly<Record<string, number>> = {
  pending: 1,
  processing: 2,
  sent: 3,
  posted: 4,
  cashed: 4,
  reversal_required: 5,
  reversal_processing: 6,
  canceled: 9,
  failed: 9,
  reversed: 9,
  settled: 9,
};

/** Our statuses Method observations may change; the others belong to the worker or are final. */
const TRACKED: ReadonlySet<PaymentStatus> = new Set(['submitted', 'processing', 'paid', 'needs_review']);

export type Decision =
  | { kind: 'ignore'; reason: 'unknown_method_status' | 'not_tracked' | 'not_forward' | 'not_allowed' }
  | { kind: 'note'; methodStatus: string; wasSent: boolean }
  | { kind: 'move'; to: PaymentStatus; set: NonNullable<TransitionInput['set']> };

/** Pure: what an observation of Method's payment does to ours. */
export function decide(p: PaymentRow, mp: MethodPayment): Decision {
  const wasSent = p.method_was_sent || methodShowsSent(mp);
  const mapped = mapMethodPaymentStatus(mp.status, { wasSent });
  if (mapped === null || METHOD_RANK[mp.status] === undefined) {
    return { kind: 'ignore', reason: 'unknown_method_status' };
  }
  if (!TRACKED.has(p.status)) return { kind: 'ignore', reason: 'not_tracked' };
  const seen = p.method_status ? (METHOD_RANK[p.method_status] ?? 0) : 0;
  const now = METHOD_RANK[mp.status];
  // Repeated and out-of-order observations change nothing.
  if (now < seen) return { kind: 'ignore', reason: 'not_forward' };
  if (now === seen && (mp.status === p.method_status || PROGRESS[mapped] <= PROGRESS[p.status])) {
    return { kind: 'ignore', reason: 'not_forward' };
  }
  if (mapped === p.status) return { kind: 'note', methodStatus: mp.status, wasSent };
  if (!canTransition(p.status, mapped)) return { kind: 'ignore', reason: 'not_allowed' };
  const set: NonNullable<TransitionInput['set']> = {
    method_status: mp.status,
    method_was_sent: wasSent,
    ...methodOutcomeFields(mp, mapped),
  };
  if (mapped !== 'needs_review' && p.status === 'needs_review') set.review_reason = null;
  return { kind: 'move', to: mapped, set };
}

/**
 * The reason fields a Method payment's status brings with it, wherever it is observed (a worker's
 * answer, a webhook, a poll): failure code and message for `failed` / `returned`, the review reason
 * for a required reversal.
 */
export function methodOutcomeFields(
  mp: MethodPayment,
  mapped: PaymentStatus,
): Pick<NonNullable<TransitionInput['set']>, 'failure_code' | 'failure_message' | 'review_reason'> {
  if (mapped === 'failed' || mapped === 'returned') {
    return {
      failure_code: mp.error?.sub_type || (mapped === 'returned' ? 'PAYMENT_RETURNED' : 'PAYMENT_FAILED'),
      failure_message: mp.error
        ? `${mp.error.message} (${mp.error.code})`
        : mapped === 'returned'
          ? `Method reports the payment ${mp.status}: the money went back to the source`
          : 'Method reports the payment failed',
    };
  }
  if (mapped === 'needs_review') {
    const why = mp.error ? ` (${mp.error.sub_type} ${mp.error.code}: ${mp.error.message})` : '';
    return {
      review_reason:
        `Method requires a reversal (reversal_required): the source pull failed after the loan was credited${why}. ` +
        'Approve the reversal so Method pulls from the source again',
    };
  }
  return {};
}

export interface ApplyResult {
  outcome: 'applied' | 'noted' | 'unchanged' | 'unmatched' | 'unknown_status';
  paymentId?: string;
  batchId?: string;
  from?: PaymentStatus;
  to?: PaymentStatus;
}

export interface ApplyContext {
  cause: TrackingCause;
  /** When the caller knows which payment of ours it asked about. */
  paymentId?: string;
  detail?: Record<string, unknown>;
  log?: (obj: Record<string, unknown>, msg: string) => void;
  /** Refresh the batch status after a move (default true; bulk callers refresh once). */
  refreshBatch?: boolean;
}

/** Locks our payment, decides, and moves it in one transaction (history, aggregates, ledger). */
export async function applyMethodPayment(
  pool: Pool,
  mp: MethodPayment,
  ctx: ApplyContext,
): Promise<ApplyResult> {
  const result = await withTransaction(pool, async (tx): Promise<ApplyResult> => {
    const { rows } = ctx.paymentId
      ? await tx.query<PaymentRow>(
          'SELECT * FROM payments WHERE id = $1 AND method_payment_id = $2 FOR UPDATE',
          [ctx.paymentId, mp.id],
        )
      : await tx.query<PaymentRow>('SELECT * FROM payments WHERE method_payment_id = $1 FOR UPDATE', [mp.id]);
    const p = rows[0];
    if (!p) return { outcome: 'unmatched' };
    if (rows.length > 1) {
      ctx.log?.(
        { methodPaymentId: mp.id, payments: rows.map((r) => r.id) },
        'one Method payment names several of ours',
      );
    }
    const base = { paymentId: p.id, batchId: p.batch_id, from: p.status };
    const d = decide(p, mp);
    if (d.kind === 'ignore') {
      if (d.reason === 'unknown_method_status') {
        ctx.log?.(
          { paymentId: p.id, methodPaymentId: mp.id, methodStatus: mp.status },
          'unknown Method payment status; keeping the last known one',
        );
        return { ...base, outcome: 'unknown_status' };
      }
      if (d.reason === 'not_allowed') {
        ctx.log?.(
          { paymentId: p.id, status: p.status, methodStatus: mp.status },
          'Method status has no allowed LoanPay transition from here; ignored',
        );
      }
      return { ...base, outcome: 'unchanged' };
    }
    if (d.kind === 'note') {
      // Same LoanPay status, Method moved on (e.g. sent → posted): keep what Method shows.
      const u = await tx.query(
        `UPDATE payments SET method_status = $3, method_was_sent = $4, updated_at = now(), version = version + 1
          WHERE id = $1 AND status = $2`,
        [p.id, p.status, d.methodStatus, d.wasSent],
      );
      return { ...base, outcome: u.rowCount ? 'noted' : 'unchanged' };
    }
    const moved = await transitionPayment(tx, p, {
      to: d.to,
      cause: ctx.cause,
      methodStatus: mp.status,
      detail: {
        ...(ctx.detail ?? {}),
        methodStatus: mp.status,
        ...(mp.error ? { methodError: mp.error } : {}),
      },
      set: d.set,
    });
    return moved ? { ...base, outcome: 'applied', to: d.to } : { ...base, outcome: 'unchanged' };
  });
  if (result.outcome === 'applied' && result.batchId && ctx.refreshBatch !== false) {
    await refreshBatchStatuses(pool, result.batchId);
  }
  return result;
}
