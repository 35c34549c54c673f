// Batch controls (api.md): pause, resume, cancel. Cancel is all-or-nothing and set-based: every
// payment Method has not received becomes cancelled in one statement with its history, aggregate
// deltas and ledger releases; those in flight are resolved first, and those Method holds as
// pending are cancelled there by the worker (cancelAtMethod).
import type { MethodClient } from '../../method/client.js';
import { type Actor, recordAudit } from '../audit/audit.repository.js';
import { type Pool, type PoolClient, withTransaction } from '../db.js';
import { AppError } from '../errors.js';
import { type PaymentRow, transitionPayment } from '../payments/payments.repository.js';
import { postBatchLedger } from './approval.js';
import { lockBatch } from './batches.repository.js';

const RUNNING = new Set(['approved', 'executing', 'paused']);

export async function setPaused(
  tx: PoolClient,
  batchId: string,
  paused: boolean,
  actor: Actor,
): Promise<void> {
  const b = await lockBatch(tx, batchId);
  const allowed = paused ? b.status === 'executing' || b.status === 'approved' : b.status === 'paused';
  if (!allowed) {
    throw new AppError('INVALID_STATE', `A ${b.status} batch cannot be ${paused ? 'paused' : 'resumed'}`, {
      status: b.status,
    });
  }
  if (!paused) {
    // Workers pushed this batch's payments aside while it was paused: due again now.
    await tx.query(
      "UPDATE payments SET next_run_at = now() WHERE batch_id = $1 AND status IN ('queued', 'retry_scheduled') AND next_run_at > now()",
      [batchId],
    );
  }
  await tx.query('UPDATE batches SET paused = $2, status = $3 WHERE id = $1', [
    batchId,
    paused,
    paused ? 'paused' : 'executing',
  ]);
  await recordAudit(tx, actor, paused ? 'batch.pause' : 'batch.resume', 'batch', batchId);
}

export async function cancelBatch(
  tx: PoolClient,
  batchId: string,
  reason: string,
  actor: Actor,
): Promise<number> {
  const b = await lockBatch(tx, batchId);
  if (!RUNNING.has(b.status))
    throw new AppError('INVALID_STATE', `A ${b.status} batch cannot be cancelled`, { status: b.status });
  const { rows } = await tx.query(
    `WITH t AS (
       SELECT p.id, p.status AS prev FROM payments p
        WHERE p.batch_id = $1 AND (p.status IN ('queued', 'retry_scheduled')
           OR (p.status = 'needs_review' AND p.method_payment_id IS NULL AND NOT EXISTS (
                 SELECT 1 FROM payment_attempts a WHERE a.payment_id = p.id AND a.state = 'open' AND a.calls > 0)))
        FOR UPDATE
     ), u AS (
       UPDATE payments p SET status = 'cancelled', next_run_at = NULL, failure_code = 'BATCH_CANCELLED',
              failure_message = $2, updated_at = now(), version = version + 1
         FROM t WHERE p.id = t.id
       RETURNING p.id, p.batch_id, p.source_id, p.branch_id, p.amount_cents, t.prev
     ), ev AS (
       INSERT INTO payment_events (payment_id, from_status, to_status, cause, actor, detail)
       SELECT id, prev, 'cancelled', 'person', $3, jsonb_build_object('reason', $2::text) FROM u
     ), agg AS (
       INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       SELECT batch_id, source_id, branch_id, g.grp, g.sign * count(*), g.sign * sum(amount_cents)
         FROM u CROSS JOIN (VALUES ('pending', -1), ('cancelled', 1)) AS g (grp, sign)
        GROUP BY batch_id, source_id, branch_id, g.grp, g.sign
     )
     SELECT id FROM u`,
    [batchId, `Batch cancelled by ${actor.username}: ${reason}`, actor.username],
  );
  // The money of every payment cancelled now goes back to its source: one posting per source.
  const ids = rows.map((r) => r.id as string);
  await postBatchLedger(tx, batchId, 'release', 'id = ANY ($5::uuid[])', 'released: batch cancelled', [ids]);
  await tx.query(
    "UPDATE batches SET cancel_requested_at = now(), cancel_reason = $2, status = 'cancelling' WHERE id = $1",
    [batchId, reason],
  );
  await recordAudit(tx, actor, 'batch.cancel', 'batch', batchId, { reason, cancelledNow: ids.length });
  return ids.length;
}

/**
 * For cancelling batches: payments Method holds as `pending` are cancelled there (DELETE); those
 * Method has started processing go on to their end.
 */
export async function cancelAtMethod(pool: Pool, client: MethodClient, limit = 50): Promise<number> {
  // Only a batch still cancelling can hold submitted payments to cancel (a cancelled one is all
  // final): find those first, so a sweep with none costs one look-up, not a join over every payment.
  const cancelling = await pool.query<{ id: string }>(
    "SELECT id FROM batches WHERE status = 'cancelling' AND cancel_requested_at IS NOT NULL",
  );
  if (cancelling.rowCount === 0) return 0;
  const { rows } = await pool.query<PaymentRow>(
    `SELECT * FROM payments
      WHERE batch_id = ANY ($2::uuid[]) AND status = 'submitted' AND method_status = 'pending'
        AND method_payment_id IS NOT NULL
      LIMIT $1`,
    [limit, cancelling.rows.map((r) => r.id)],
  );
  let cancelled = 0;
  for (const p of rows) {
    const out = await client.cancelPayment(p.method_payment_id!);
    if (out.kind === 'retryable' || out.kind === 'ambiguous') continue; // asked again on the next sweep
    if (out.kind !== 'ok' || out.data.status !== 'canceled') {
      // Too late (processing) or Method unavailable: note it so we do not ask again and again.
      await pool.query(
        "UPDATE payments SET method_status = coalesce($2, method_status) WHERE id = $1 AND status = 'submitted'",
        [p.id, out.kind === 'ok' ? out.data.status : 'cancel_refused'],
      );
      continue;
    }
    const ok = await withTransaction(pool, (tx) =>
      transitionPayment(tx, p, {
        to: 'cancelled',
        cause: 'batch',
        methodStatus: 'canceled',
        set: {
          method_status: 'canceled',
          failure_code: 'BATCH_CANCELLED',
          failure_message: 'Cancelled at Method: batch cancelled',
        },
      }),
    );
    if (ok) cancelled++;
  }
  return cancelled;
}
