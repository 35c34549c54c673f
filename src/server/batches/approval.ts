// Approval books a whole batch in one transaction, set-based: payments (queued, or cancelled when
// their Plaid id has no payable merchant), history, ledger reservations (and releases for the
// cancelled), opening aggregate rows, the Method objects still to provision, and the audit entry.
import { type Actor, recordAudit } from '../audit/audit.repository.js';
import type { PoolClient } from '../db.js';
import { AppError } from '../errors.js';
import { lockBatch } from './batches.repository.js';

export interface ApprovalOptions {
  requireSecondApprover: boolean;
}

/** Returns true when this call booked the batch, false when it had been approved before. */
export async function approveBatch(
  tx: PoolClient,
  batchId: string,
  actor: Actor,
  opts: ApprovalOptions,
): Promise<boolean> {
  // The row lock serialises approvers: the second one waits, then sees the batch approved.
  const b = await lockBatch(tx, batchId);
  if (opts.requireSecondApprover && b.uploadedBy !== null && b.uploadedBy === actor.userId) {
    throw new AppError('SELF_APPROVAL', 'You uploaded this batch; a second person must approve it');
  }
  const state = await tx.query(
    'SELECT approved_at, status, preflight_status, row_count FROM batches WHERE id = $1',
    [batchId],
  );
  const row = state.rows[0];
  if (row.approved_at) return false;
  if (row.status !== 'awaiting_approval') {
    throw new AppError('INVALID_STATE', `A ${row.status} batch cannot be approved`, { status: row.status });
  }
  if (row.preflight_status !== 'complete') {
    throw new AppError(
      'PREFLIGHT_INCOMPLETE',
      'The review check of loan servicers (pre-flight) has not completed yet; it is retried automatically — try again shortly',
      { preflight: row.preflight_status },
    );
  }

  // Sorts and hashes over a whole batch stay in memory.
  await tx.query("SET LOCAL work_mem = '64MB'");
  // One pass over the batch: the payments, their first history rows and the opening aggregate rows,
  // all from the rows the insert returns. The Method objects the payments need are planned by a
  // worker once this commits (planProvisioning).
  const booked = await tx.query(
    `WITH p AS (
       INSERT INTO payments (batch_id, row_number, employee_id, employee_name, branch_id, source_id, source_bank_account_id,
         loan_id, plaid_id, amount_cents, status, failure_code, failure_message, next_run_at)
       SELECT l.batch_id, l.row_number, l.employee_id, l.first_name || ' ' || l.last_name, l.branch_id, l.source_id,
              l.source_bank_account_id, l.loan_id, l.plaid_id, l.amount_cents,
              CASE WHEN m.payable THEN 'queued' ELSE 'cancelled' END,
              CASE WHEN m.payable THEN NULL ELSE 'UNPAYABLE_DESTINATION' END,
              CASE WHEN m.payable THEN NULL ELSE 'No payable student-loan servicer at Method for ' || l.plaid_id
                   || coalesce(' (' || m.reason || ')', '') END,
              CASE WHEN m.payable THEN now() END
         FROM batch_lines l JOIN plaid_merchants m ON m.plaid_id = l.plaid_id
        WHERE l.batch_id = $1
        ORDER BY l.row_number
       RETURNING id, status, failure_code, amount_cents, source_id, branch_id, employee_id, loan_id, source_bank_account_id
     ), events AS (
       INSERT INTO payment_events (payment_id, from_status, to_status, cause, actor, detail)
       SELECT id, NULL, status, 'approval', $2, CASE WHEN failure_code IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('failureCode', failure_code) END
         FROM p
     ), aggregates AS (
       INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       SELECT $1, source_id, branch_id, CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'pending' END,
              count(*), sum(amount_cents)
         FROM p GROUP BY 2, 3, 4
     )
     SELECT count(*)::int AS payments, count(*) FILTER (WHERE status = 'queued')::int AS queued,
            count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,
            coalesce(sum(amount_cents) FILTER (WHERE status = 'queued'), 0)::bigint AS queued_cents
       FROM p`,
    [batchId, actor.username],
  );
  const totals = booked.rows[0] as {
    payments: number;
    queued: number;
    cancelled: number;
    queued_cents: string;
  };
  if (totals.payments !== row.row_count) {
    // Every line has a resolved Plaid id once the pre-flight is complete; anything else is a bug.
    throw new Error(`approval of ${batchId} booked ${totals.payments} payments for ${row.row_count} lines`);
  }

  // Ledger: per source, one reservation posting for the whole batch (source → clearing), and one
  // release for its unpayable rows. Later movements are posted per payment.
  await tx.query(
    `INSERT INTO ledger_accounts (kind, ref)
     SELECT k, source_id FROM (SELECT DISTINCT source_id FROM payments WHERE batch_id = $1) s, (VALUES ('source'), ('clearing')) v (k)
     ON CONFLICT (kind, ref) DO NOTHING`,
    [batchId],
  );
  await postBatchLedger(tx, batchId, 'reserve', "status IN ('queued', 'cancelled')", 'reserved on approval');
  await postBatchLedger(tx, batchId, 'release', "status = 'cancelled'", 'released on approval: not payable');

  // The yearly tax-free limit counts every line of the batches approved in the calendar year.
  await tx.query(
    `INSERT INTO employee_year_totals (employee_id, year, approved_cents)
     SELECT employee_id, date_part('year', now() AT TIME ZONE 'UTC')::int, sum(amount_cents)
       FROM batch_lines WHERE batch_id = $1 GROUP BY employee_id
     ON CONFLICT (employee_id, year) DO UPDATE
       SET approved_cents = employee_year_totals.approved_cents + EXCLUDED.approved_cents`,
    [batchId],
  );

  const status = totals.queued > 0 ? 'executing' : 'completed_with_exceptions';
  await tx.query('UPDATE batches SET status = $2, approved_at = now(), approved_by = $3 WHERE id = $1', [
    batchId,
    status,
    actor.userId,
  ]);
  await recordAudit(tx, actor, 'batch.approve', 'batch', batchId, {
    queued: totals.queued,
    queuedCents: Number(totals.queued_cents),
    cancelledUnpayable: totals.cancelled,
  });
  return true;
}

/**
 * One posting per source of the batch over the payments matching `where`: reserve moves the sum
 * from the source to its clearing account, release moves it back.
 */
export async function postBatchLedger(
  tx: PoolClient,
  batchId: string,
  kind: 'reserve' | 'release',
  where: string,
  description: string,
  extraArgs: unknown[] = [],
): Promise<void> {
  const debit = kind === 'reserve' ? 'clearing' : 'source';
  await tx.query(
    `WITH t AS (
       SELECT source_id, count(*)::int AS n, sum(amount_cents) AS cents FROM payments
        WHERE batch_id = $1 AND ${where} GROUP BY source_id
     ), posting AS (
       INSERT INTO ledger_postings (kind, batch_id, source_id, payment_count, description)
       SELECT $2, $1, source_id, n, $3 || ' (' || n || ' payments)' FROM t RETURNING id, source_id
     )
     INSERT INTO ledger_entries (posting_id, account_id, amount_cents)
     SELECT posting.id, a.id, CASE WHEN a.kind = $4 THEN t.cents ELSE -t.cents END
       FROM posting JOIN t USING (source_id)
       JOIN ledger_accounts a ON a.ref = t.source_id AND a.kind IN ('source', 'clearing')`,
    [batchId, kind, description, debit, ...extraArgs],
  );
}
