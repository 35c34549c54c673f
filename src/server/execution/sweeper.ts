// The sweeper: nothing waits forever unseen. Expired leases become `unknown` (the call may have
// reached Method), payments whose Method account could not be created go to a person, and batch
// statuses follow their payments.
import { FINAL_STATUSES } from '../../shared/payment-state.js';
import { PAYMENT_STATUSES } from '../../shared/statuses.js';
import type { Pool } from '../db.js';
import { withTransaction } from '../db.js';
import { type PaymentRow, transitionPayment } from '../payments/payments.repository.js';

export async function sweepExpiredLeases(pool: Pool, limit = 500): Promise<number> {
  const { rows } = await pool.query<PaymentRow>(
    `SELECT * FROM payments WHERE status = 'submitting' AND lease_expires_at < now() ORDER BY lease_expires_at LIMIT $1`,
    [limit],
  );
  let moved = 0;
  for (const p of rows) {
    const ok = await withTransaction(pool, (tx) =>
      transitionPayment(tx, p, {
        to: 'unknown',
        cause: 'sweeper',
        leaseToken: p.lease_token,
        detail: {
          reason: 'lease expired: the worker stopped mid-call; resolved by looking the payment up at Method',
        },
        set: { lease_token: null, lease_expires_at: null, next_run_at: new Date() },
      }),
    );
    if (ok) moved++;
  }
  return moved;
}

/** Payments waiting for an account Method refused to create: a person decides. */
export async function sweepBlockedByProvisioning(pool: Pool, limit = 1000): Promise<number> {
  const { rows } = await pool.query<PaymentRow & { reason: string }>(
    `SELECT p.*, j.kind || ' ' || j.ref || ': ' || coalesce(j.last_error, 'failed') AS reason
       FROM payments p
       JOIN employees e ON e.employee_id = p.employee_id
       JOIN provisioning j ON (j.kind = 'liability_account' AND j.ref = p.loan_id::text)
                           OR (j.kind = 'ach_account' AND j.ref = p.source_bank_account_id::text)
                           OR (j.kind = 'individual' AND j.ref = p.employee_id)
      WHERE p.status IN ('queued', 'retry_scheduled') AND j.status = 'failed'
      LIMIT $1`,
    [limit],
  );
  let moved = 0;
  for (const p of rows) {
    const ok = await withTransaction(pool, (tx) =>
      transitionPayment(tx, p, {
        to: 'needs_review',
        cause: 'sweeper',
        detail: { reason: p.reason },
        set: {
          review_reason: `Method could not set up an account for this payment (${p.reason})`,
          next_run_at: null,
        },
      }),
    );
    if (ok) moved++;
  }
  return moved;
}

/**
 * A batch's status after approval is derived from its payments (api.md): while any is not final it
 * is executing (or paused/cancelling), then completed, completed_with_exceptions or cancelled.
 */
export async function refreshBatchStatuses(pool: Pool, batchId?: string): Promise<void> {
  // Index probes on (batch_id, status), not counts: a sweep costs a few look-ups per batch whatever
  // the batch's size or how many finished batches the table holds (counting every payment of every
  // batch took 0.65 s a sweep with 300k payments, and grew with each file).
  await pool.query(
    `WITH s AS (
       SELECT b.id, b.paused, b.cancel_requested_at,
              EXISTS (SELECT 1 FROM payments p WHERE p.batch_id = b.id AND p.status = ANY ($2::text[])) AS open,
              EXISTS (SELECT 1 FROM payments p WHERE p.batch_id = b.id AND p.status = ANY ($3::text[])) AS not_all_paid
         FROM batches b
        WHERE b.approved_at IS NOT NULL AND ($1::uuid IS NULL OR b.id = $1)
          AND b.status IN ('approved', 'executing', 'paused', 'completed', 'completed_with_exceptions', 'cancelling')
          AND EXISTS (SELECT 1 FROM payments p WHERE p.batch_id = b.id)
     ), d AS (
       SELECT id, CASE
         WHEN open AND cancel_requested_at IS NOT NULL THEN 'cancelling'
         WHEN open AND paused THEN 'paused'
         WHEN open THEN 'executing'
         WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
         WHEN NOT not_all_paid THEN 'completed'
         ELSE 'completed_with_exceptions' END AS status
         FROM s
     )
     UPDATE batches b SET status = d.status FROM d WHERE b.id = d.id AND b.status IS DISTINCT FROM d.status`,
    [
      batchId ?? null,
      PAYMENT_STATUSES.filter((st) => !FINAL_STATUSES.has(st)),
      PAYMENT_STATUSES.filter((st) => st !== 'paid'),
    ],
  );
}

/**
 * Wakes accounts sleeping for a holder that exists by now — the holder finished while the plan that
 * queued them was still open, so its wake-up did not see them. Normally it finds nothing; on a first
 * batch it looks at ~50,000 sleeping accounts every sweep, so it must stay cheap whatever the
 * statistics say. The holder check is a scalar subquery inside a CASE: the planner cannot turn it
 * into a join, so each sleeping job costs two primary-key look-ups and nothing else. (As a join it
 * was planned once, right after an approval, as a nested loop re-running a hash join of all loans
 * for each sleeping account: it ran for the whole 50k drill and held the sweeper — lease sweeps
 * included — the whole time.) The statement timeout is the backstop: a sweep step that runs away
 * is cut off and the sweeper goes on.
 */
export async function wakeSleepingProvisioning(pool: Pool, timeoutMs = 30_000): Promise<number> {
  return withTransaction(pool, async (tx) => {
    await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    const { rowCount } = await tx.query(
      `UPDATE provisioning j SET next_run_at = now()
        WHERE j.status = 'pending' AND j.next_run_at = 'infinity'
          AND CASE j.kind
                WHEN 'liability_account' THEN
                  (SELECT e.method_entity_id IS NOT NULL FROM loans l JOIN employees e USING (employee_id)
                    WHERE l.id = j.ref::uuid)
                WHEN 'ach_account' THEN
                  (SELECT py.method_entity_id IS NOT NULL FROM source_bank_accounts a
                     JOIN sources s USING (source_id) JOIN payors py ON py.id = s.payor_id
                    WHERE a.id = j.ref::uuid)
                ELSE false
              END`,
    );
    return rowCount ?? 0;
  });
}
