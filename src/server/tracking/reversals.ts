// A person approves a reversal Method requires (reversal_required: the source pull failed after
// the loan was credited). Method is told first — outside any transaction, with a key derived from
// the reversal so a repeated click cannot approve twice — then the payment moves to `processing`
// with its audit entry in one transaction. Method then re-pulls: `settled` → paid, `reversed` → returned.
//
// Method stores a 500 under its key and replays it forever (method.md §1), so one key per reversal
// would leave a reversal unapprovable after a single 5xx. Attempt n has its own key, derived from
// the payment, the reversal and n (attempt 1 keeps the original derivation). Each click walks the
// attempts from 1: a key Method answers with a replayed 5xx is spent, and only when a fresh look-up
// shows the reversal still `pending_approval` is the next key used. A timeout or dropped answer
// never advances: the next click sends that same key again.
import type { MethodClient } from '../../method/client.js';
import { type Actor, recordAudit } from '../audit/audit.repository.js';
import { type Pool, withTransaction } from '../db.js';
import { AppError, notFound } from '../errors.js';
import { refreshBatchStatuses } from '../execution/sweeper.js';
import { findPayment, lockPayment, transitionPayment } from '../payments/payments.repository.js';
import { type Payment, toPayment } from '../payments/payments.service.js';
import { derivedUuid } from '../webhooks/credentials.js';

type Client = Pick<MethodClient, 'listReversals' | 'approveReversal'>;

/** Fresh (not replayed) 5xx answers one click accepts before it asks the person to try again. */
const FRESH_FAILURES_PER_CLICK = 3;
/** Keys per reversal; past this, something other than a passing 5xx is wrong. */
const MAX_ATTEMPTS = 50;

export function reversalApprovalKey(paymentId: string, reversalId: string, attempt: number): string {
  const base = `loanpay-approve-reversal|${paymentId}|${reversalId}`;
  return derivedUuid(attempt === 1 ? base : `${base}|${attempt}`);
}

async function approveAtMethod(
  client: Client,
  methodPaymentId: string,
  paymentId: string,
  reversalId: string,
): Promise<void> {
  let fresh = 0;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    const approved = await client.approveReversal(methodPaymentId, reversalId, {
      idempotencyKey: reversalApprovalKey(paymentId, reversalId, attempt),
      timeoutMs: 10_000,
    });
    if (approved.kind === 'ok') return;
    if (approved.kind === 'definite_failure') {
      throw new AppError('INVALID_STATE', `Method refused the approval: ${approved.error.message}`, {
        methodError: approved.error,
      });
    }
    const spent5xx = approved.kind === 'retryable' && approved.reason === 'server_error';
    if (!spent5xx) {
      // Timeout, dropped answer, 429, idempotency store down: the same key is safe to send again.
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'Method did not confirm the approval; try again (it is safe)',
        {
          outcome: approved.kind,
          reason: approved.reason,
          attempt,
        },
      );
    }
    if (!approved.replayedFailure) fresh++;
    // This key holds a 5xx for good. A new key only once Method shows the reversal still waiting.
    const listed = await client.listReversals(methodPaymentId, { timeoutMs: 10_000 });
    if (listed.kind !== 'ok') {
      throw new AppError('SERVICE_UNAVAILABLE', 'Method did not answer the reversal look-up; try again', {
        outcome: listed.kind,
        attempt,
      });
    }
    const now = listed.data.items.find((r) => r.id === reversalId);
    if (!now) throw new AppError('INVALID_STATE', 'Method no longer shows this reversal');
    if (now.status === 'failed') throw new AppError('INVALID_STATE', 'Method shows this reversal as failed');
    if (now.status !== 'pending_approval') return; // approved after all (the 5xx came after the change)
    if (fresh >= FRESH_FAILURES_PER_CLICK) {
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'Method answered the approval with errors; try again (it is safe)',
        {
          outcome: approved.kind,
          attempt,
        },
      );
    }
  }
  throw new AppError(
    'SERVICE_UNAVAILABLE',
    `Method refused ${MAX_ATTEMPTS} approval attempts of this reversal with server errors; contact Method`,
    { attempts: MAX_ATTEMPTS },
  );
}

export async function approveReversal(
  pool: Pool,
  client: Client | undefined,
  paymentId: string,
  actor: Actor,
): Promise<Payment> {
  const p = await findPayment(pool, paymentId);
  if (!p) throw notFound('Payment', paymentId);
  if (p.method_status !== 'reversal_required' || !p.method_payment_id) {
    throw new AppError(
      'INVALID_STATE',
      `Only a payment Method shows as reversal_required has a reversal to approve; this one is ${p.status} (Method: ${p.method_status ?? 'none'})`,
      { status: p.status, methodStatus: p.method_status },
    );
  }
  if (!client) throw new AppError('SERVICE_UNAVAILABLE', 'No Method connection is configured');
  const listed = await client.listReversals(p.method_payment_id, { timeoutMs: 10_000 });
  if (listed.kind !== 'ok') {
    throw new AppError('SERVICE_UNAVAILABLE', 'Method did not answer the reversal look-up; try again', {
      outcome: listed.kind,
    });
  }
  const waiting = listed.data.items.find((r) => r.status === 'pending_approval');
  // Approved before (our commit was lost after Method's answer): finish our side only.
  const approvedBefore = listed.data.items.find(
    (r) => r.status !== 'pending_approval' && r.status !== 'failed',
  );
  const reversal = waiting ?? approvedBefore;
  if (!reversal) {
    throw new AppError('INVALID_STATE', 'Method holds no reversal for this payment awaiting approval');
  }
  if (waiting) await approveAtMethod(client, p.method_payment_id, p.id, waiting.id);
  const row = await withTransaction(pool, async (tx) => {
    const cur = await lockPayment(tx, paymentId);
    if (!cur) throw notFound('Payment', paymentId);
    let moved = cur;
    // A webhook may have moved it already (Method announced reversal_processing first).
    if (cur.status === 'needs_review' && cur.method_status === 'reversal_required') {
      const r = await transitionPayment(tx, cur, {
        to: 'processing',
        cause: 'person',
        actor: actor.username,
        methodStatus: 'reversal_processing',
        detail: { action: 'approve_reversal', reversalId: reversal.id, methodStatus: 'reversal_processing' },
        set: { method_status: 'reversal_processing', review_reason: null },
      });
      if (!r) throw new AppError('INVALID_STATE', 'The payment changed meanwhile; reload and try again');
      moved = r;
    }
    await recordAudit(tx, actor, 'payment.approve_reversal', 'payment', paymentId, {
      from: cur.status,
      to: moved.status,
      batchId: cur.batch_id,
      row: cur.row_number,
      methodPaymentId: cur.method_payment_id,
      reversalId: reversal.id,
      amountCents: cur.amount_cents,
    });
    return moved;
  });
  await refreshBatchStatuses(pool, row.batch_id);
  return toPayment(row);
}
