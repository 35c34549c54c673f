// Payment rows and the one function that changes a payment's status: state machine check, guarded
// update (expected status and lease, so a stale worker changes nothing), history row, aggregate
// deltas and ledger posting — all in the caller's transaction.
import { assertTransition } from '../../shared/payment-state.js';
import { groupOf, type PaymentStatus, type StatusGroup } from '../../shared/statuses.js';
import type { Queryable } from '../db.js';
import { entriesFor, type PostingKind, writePosting } from '../ledger/ledger.repository.js';

export type Cause = 'approval' | 'worker' | 'webhook' | 'reconciler' | 'person' | 'sweeper' | 'batch';

export interface PaymentRow {
  id: string;
  batch_id: string;
  row_number: number;
  employee_id: string;
  employee_name: string;
  branch_id: string;
  source_id: string;
  source_bank_account_id: string;
  loan_id: string;
  plaid_id: string;
  amount_cents: number;
  status: PaymentStatus;
  failure_code: string | null;
  failure_message: string | null;
  review_reason: string | null;
  method_payment_id: string | null;
  method_status: string | null;
  method_was_sent: boolean;
  attempts: number;
  current_attempt_id: string | null;
  next_run_at: Date | null;
  lease_token: string | null;
  lease_expires_at: Date | null;
  retry_count: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** The ledger posting a change of status group requires, if any. */
export function postingForGroupChange(from: StatusGroup, to: StatusGroup): PostingKind | null {
  if (from === to) return null;
  const key = `${from}>${to}`;
  const table: Record<string, PostingKind> = {
    'pending>paid': 'pay',
    'pending>failed': 'release',
    'pending>cancelled': 'release',
    'pending>returned': 'release',
    'paid>returned': 'return',
    'paid>pending': 'unpay',
    'failed>pending': 'reserve',
  };
  const kind = table[key];
  if (!kind) throw new Error(`no ledger posting for a payment moving from ${from} to ${to}`);
  return kind;
}

export interface TransitionInput {
  to: PaymentStatus;
  cause: Cause;
  actor?: string | null;
  methodStatus?: string | null;
  detail?: Record<string, unknown>;
  /** Only when the payment still holds this lease (workers). */
  leaseToken?: string | null;
  /** Column updates made together with the status change. */
  set?: Partial<{
    failure_code: string | null;
    failure_message: string | null;
    review_reason: string | null;
    method_payment_id: string | null;
    method_status: string | null;
    method_was_sent: boolean;
    next_run_at: Date | null;
    lease_token: string | null;
    lease_expires_at: Date | null;
    retry_count: number;
    current_attempt_id: string | null;
    attempts: number;
  }>;
}

const SETTABLE = new Set([
  'failure_code',
  'failure_message',
  'review_reason',
  'method_payment_id',
  'method_status',
  'method_was_sent',
  'next_run_at',
  'lease_token',
  'lease_expires_at',
  'retry_count',
  'current_attempt_id',
  'attempts',
]);

/**
 * Moves `p` (as read, with its status) to `input.to`. Returns the updated row, or null when the
 * payment is no longer in the expected status/lease (someone else moved it first).
 */
export async function transitionPayment(
  db: Queryable,
  p: PaymentRow,
  input: TransitionInput,
): Promise<PaymentRow | null> {
  assertTransition(p.status, input.to);
  const sets: string[] = ['status = $3', 'updated_at = now()', 'version = version + 1'];
  const args: unknown[] = [p.id, p.status, input.to];
  for (const [col, value] of Object.entries(input.set ?? {})) {
    if (!SETTABLE.has(col)) throw new Error(`cannot set ${col}`);
    args.push(value);
    sets.push(`${col} = $${args.length}`);
  }
  let guard = 'id = $1 AND status = $2';
  if (input.leaseToken !== undefined) {
    args.push(input.leaseToken);
    guard += ` AND lease_token IS NOT DISTINCT FROM $${args.length}`;
  }
  const upd = await db.query<PaymentRow>(
    `UPDATE payments SET ${sets.join(', ')} WHERE ${guard} RETURNING *`,
    args,
  );
  const row = upd.rows[0];
  if (!row) return null;
  await db.query(
    `INSERT INTO payment_events (payment_id, from_status, to_status, cause, actor, method_status, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      p.id,
      p.status,
      input.to,
      input.cause,
      input.actor ?? null,
      input.methodStatus ?? null,
      JSON.stringify(input.detail ?? {}),
    ],
  );
  const fromGroup = groupOf(p.status);
  const toGroup = groupOf(input.to);
  const posting = postingForGroupChange(fromGroup, toGroup);
  if (posting) {
    await db.query(
      `INSERT INTO batch_aggregate_deltas (batch_id, source_id, branch_id, grp, count_delta, cents_delta)
       VALUES ($1, $2, $3, $4, -1, $6), ($1, $2, $3, $5, 1, $7)`,
      [p.batch_id, p.source_id, p.branch_id, fromGroup, toGroup, -p.amount_cents, p.amount_cents],
    );
    await writePosting(db, {
      kind: posting,
      paymentId: p.id,
      batchId: p.batch_id,
      description: `${posting} on ${p.status} → ${input.to}`,
      entries: entriesFor(posting, { sourceId: p.source_id, loanId: p.loan_id, amountCents: p.amount_cents }),
    });
  }
  return row;
}

export async function findPayment(db: Queryable, id: string): Promise<PaymentRow | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<PaymentRow>('SELECT * FROM payments WHERE id = $1', [id]);
  return rows[0] ?? null;
}

export async function lockPayment(db: Queryable, id: string): Promise<PaymentRow | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<PaymentRow>('SELECT * FROM payments WHERE id = $1 FOR UPDATE', [id]);
  return rows[0] ?? null;
}
